import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Order } from './Order.ts';
import { Payment } from './Payment.ts';
import { Query } from './Query.ts';

export const resolvers: Resolvers = { Query, Order, Payment };
