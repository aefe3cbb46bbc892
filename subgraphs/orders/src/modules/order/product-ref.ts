/** A reference to a Product entity of the inventory subgraph; orders knows only its id. */
export interface ProductRef {
  id: string;
}
