/** A reference to a User entity of the users subgraph; orders knows only its id. */
export interface CustomerRef {
  id: string;
}
