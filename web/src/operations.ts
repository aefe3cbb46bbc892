import { gql, type TypedDocumentNode } from '@apollo/client';
import type { Money } from './format.ts';

// Every operation the app sends to the gateway, with the types of its answers.

export interface Product {
  id: string;
  name: string;
  description: string;
  price: Money;
  stock: number;
  inStock: boolean;
}

export interface SagaStep {
  name: string;
  compensation: boolean;
  status: 'RUNNING' | 'SUCCEEDED' | 'REJECTED' | 'FAILED' | 'SKIPPED';
  attempts: number;
  startedAt: string;
  endedAt: string | null;
  error: string | null;
}

export type SagaStatus = 'RUNNING' | 'COMPENSATING' | 'COMPLETED' | 'COMPENSATED' | 'NEEDS_ATTENTION';
export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED' | 'NEEDS_ATTENTION';

export interface Saga {
  orderId: string;
  status: SagaStatus;
  runtimeStatus: string | null;
  currentStep: string | null;
  steps: SagaStep[];
}

export interface Order {
  id: string;
  status: OrderStatus;
  statusReason: string | null;
  paymentMethod: string | null;
  createdAt: string;
  updatedAt: string;
  total: Money;
  lines: { id: string; quantity: number; unitPrice: Money; lineTotal: Money; product: { id: string; name: string } }[];
  payment: { id: string; status: string; amount: Money } | null;
  saga: Saga;
}

const PRODUCT = gql`
  fragment ProductCard on Product {
    id
    name
    description
    price {
      amount
      currency
    }
    stock
    inStock
  }
`;

const SAGA = gql`
  fragment SagaView on Saga {
    orderId
    status
    runtimeStatus
    currentStep
    steps {
      name
      compensation
      status
      attempts
      startedAt
      endedAt
      error
    }
  }
`;

const ORDER = gql`
  fragment OrderView on Order {
    id
    status
    statusReason
    paymentMethod
    createdAt
    updatedAt
    total {
      amount
      currency
    }
    lines {
      id
      quantity
      unitPrice {
        amount
        currency
      }
      lineTotal {
        amount
        currency
      }
      product {
        id
        name
      }
    }
    payment {
      id
      status
      amount {
        amount
        currency
      }
    }
    saga {
      ...SagaView
    }
  }
  ${SAGA}
`;

export const CATALOG: TypedDocumentNode<
  { products: { totalCount: number; pageInfo: { endCursor: string | null; hasNextPage: boolean }; nodes: Product[] } },
  { search?: string; first: number; after?: string | null }
> = gql`
  query Catalog($search: String, $first: Int!, $after: String) {
    products(first: $first, search: $search, after: $after) {
      totalCount
      pageInfo {
        endCursor
        hasNextPage
      }
      nodes {
        ...ProductCard
      }
    }
  }
  ${PRODUCT}
`;

export interface Cart {
  itemCount: number;
  lines: { quantity: number; product: Product }[];
}

// Written out rather than spreading ProductCard: the gateway counts each fragment as a level of depth (GRAPHQL_MAX_DEPTH).
const CART = gql`
  fragment CartView on Cart {
    itemCount
    lines {
      quantity
      product {
        id
        name
        description
        price {
          amount
          currency
        }
        stock
        inStock
      }
    }
  }
`;

export const MY_CART: TypedDocumentNode<{ me: { id: string; cart: Cart } }, Record<string, never>> = gql`
  query MyCart {
    me {
      id
      cart {
        ...CartView
      }
    }
  }
  ${CART}
`;

export const ADD_TO_CART: TypedDocumentNode<{ addToCart: Cart }, { productId: string; quantity: number; idempotencyKey: string }> = gql`
  mutation AddToCart($productId: ID!, $quantity: Int!, $idempotencyKey: String) {
    addToCart(productId: $productId, quantity: $quantity, idempotencyKey: $idempotencyKey) {
      ...CartView
    }
  }
  ${CART}
`;

export const SET_CART_QUANTITY: TypedDocumentNode<{ setCartQuantity: Cart }, { productId: string; quantity: number }> = gql`
  mutation SetCartQuantity($productId: ID!, $quantity: Int!) {
    setCartQuantity(productId: $productId, quantity: $quantity) {
      ...CartView
    }
  }
  ${CART}
`;

export const PLACE_ORDER: TypedDocumentNode<{ placeOrder: Order }, { paymentMethod: string; idempotencyKey: string }> = gql`
  mutation PlaceOrder($paymentMethod: String!, $idempotencyKey: String!) {
    placeOrder(input: { paymentMethod: $paymentMethod }, idempotencyKey: $idempotencyKey) {
      ...OrderView
    }
  }
  ${ORDER}
`;

export const MY_ORDERS: TypedDocumentNode<
  { me: { id: string; orders: Pick<Order, 'id' | 'status' | 'createdAt' | 'total'>[] } },
  { first: number; after?: string | null }
> = gql`
  query MyOrders($first: Int!, $after: ID) {
    me {
      id
      orders(first: $first, after: $after) {
        id
        status
        createdAt
        total {
          amount
          currency
        }
      }
    }
  }
`;

export const ORDER_PAGE: TypedDocumentNode<{ order: Order | null }, { id: string }> = gql`
  query OrderPage($id: ID!) {
    order(id: $id) {
      ...OrderView
    }
  }
  ${ORDER}
`;

export const CANCEL_ORDER: TypedDocumentNode<{ cancelOrder: Order }, { id: string }> = gql`
  mutation CancelOrder($id: ID!) {
    cancelOrder(id: $id) {
      ...OrderView
    }
  }
  ${ORDER}
`;

export interface Notification {
  id: string;
  kind: string;
  title: string;
  body: string;
  orderId: string | null;
  createdAt: string;
  readAt: string | null;
}

export const NOTIFICATIONS: TypedDocumentNode<
  { me: { id: string; notifications: { totalCount: number; unreadCount: number; endCursor: string | null; hasNextPage: boolean; nodes: Notification[] } } },
  { first: number; after?: string | null }
> = gql`
  query Notifications($first: Int!, $after: String) {
    me {
      id
      notifications(first: $first, after: $after) {
        totalCount
        unreadCount
        endCursor
        hasNextPage
        nodes {
          id
          kind
          title
          body
          orderId
          createdAt
          readAt
        }
      }
    }
  }
`;

export const MARK_NOTIFICATION_READ: TypedDocumentNode<{ markNotificationRead: Pick<Notification, 'id' | 'readAt'> }, { id: string }> = gql`
  mutation MarkNotificationRead($id: ID!) {
    markNotificationRead(id: $id) {
      id
      readAt
    }
  }
`;

export interface SagaRow extends Saga {
  order: { id: string; createdAt: string; total: Money; customer: { id: string; username: string } };
}

export const SAGAS: TypedDocumentNode<
  { sagas: { endCursor: string | null; hasNextPage: boolean; nodes: SagaRow[] } },
  { status?: SagaStatus | null; first: number; after?: string | null }
> = gql`
  query Sagas($status: SagaStatus, $first: Int!, $after: String) {
    sagas(status: $status, first: $first, after: $after) {
      endCursor
      hasNextPage
      nodes {
        ...SagaView
        order {
          id
          createdAt
          total {
            amount
            currency
          }
          customer {
            id
            username
          }
        }
      }
    }
  }
  ${SAGA}
`;

export const RETRY_SAGA: TypedDocumentNode<{ retrySaga: Saga }, { orderId: string }> = gql`
  mutation RetrySaga($orderId: ID!) {
    retrySaga(orderId: $orderId) {
      ...SagaView
    }
  }
  ${SAGA}
`;

export const COMPENSATE_SAGA: TypedDocumentNode<{ compensateSaga: Saga }, { orderId: string }> = gql`
  mutation CompensateSaga($orderId: ID!) {
    compensateSaga(orderId: $orderId) {
      ...SagaView
    }
  }
  ${SAGA}
`;

export const RESTOCK: TypedDocumentNode<{ restockProduct: Product }, { id: string; quantity: number; idempotencyKey: string }> = gql`
  mutation Restock($id: ID!, $quantity: Int!, $idempotencyKey: String) {
    restockProduct(id: $id, quantity: $quantity, idempotencyKey: $idempotencyKey) {
      ...ProductCard
    }
  }
  ${PRODUCT}
`;
