import { registerEventSubscriptions } from '@agora/events';
import { loadTypeDefs, type Logger, type SubgraphModule } from '@agora/service';
import { buildContext, type Context } from './context.ts';
import { database } from './database.ts';
import { NOTIFICATIONS_CONSUMER, notificationSubscriptions } from './events/notification-subscriptions.ts';
import { startDeliveryRetries } from './modules/notification/deliver-notification.ts';
import { LoggingSender } from './modules/notification/logging-sender.ts';
import type { NotificationSender } from './modules/notification/notification-sender.ts';
import { resolvers } from './resolvers/index.ts';

export interface UsersOptions {
  /** The email/SMS provider; the simulated LoggingSender by default. */
  sender?: (logger: Logger) => NotificationSender;
  /** daprd's APP_API_TOKEN: when set, event deliveries must carry it (see env.ts). */
  appApiToken?: string | undefined;
  /** How often failed or stalled notification deliveries are tried again. */
  deliveryRetryIntervalMs?: number;
}

/**
 * The users subgraph with its event subscriptions: order and payment events, delivered by the
 * sidecar to /events/*, become notifications in the user's inbox and are sent out by email.
 */
export function createUsersSubgraph(options: UsersOptions = {}): SubgraphModule<Context> {
  return {
    name: 'users',
    typeDefs: loadTypeDefs(new URL('../schema.graphql', import.meta.url)),
    resolvers,
    database,
    context: buildContext,
    async extend({ app, orm, logger }) {
      const deps = { em: orm.em, sender: options.sender?.(logger) ?? new LoggingSender(logger), logger };
      await registerEventSubscriptions(app, { orm, consumer: NOTIFICATIONS_CONSUMER, subscriptions: notificationSubscriptions(deps), logger, appApiToken: options.appApiToken });
      const retries = startDeliveryRetries(deps, options.deliveryRetryIntervalMs ?? 30_000);
      return () => retries.stop();
    },
  };
}

export const usersSubgraph = createUsersSubgraph();
