import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Order } from './Order.ts';
import { OrderLine } from './OrderLine.ts';
import { Query } from './Query.ts';
import { User } from './User.ts';

export const resolvers: Resolvers = { Query, Order, OrderLine, User };
