/** A reference to an Order entity of the orders subgraph; payments knows only its id. */
export interface OrderRef {
  id: string;
}
