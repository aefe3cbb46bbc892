import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Cart, CartLine } from './Cart.ts';
import { Mutation } from './Mutation.ts';
import { Order } from './Order.ts';
import { OrderLine } from './OrderLine.ts';
import { Query } from './Query.ts';
import { Saga, SagaStep } from './Saga.ts';
import { User } from './User.ts';

export const resolvers: Resolvers = { Query, Mutation, Order, OrderLine, User, Cart, CartLine, Saga, SagaStep };
