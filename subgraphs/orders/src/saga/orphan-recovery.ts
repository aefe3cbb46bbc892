import type { MikroORM } from '@mikro-orm/postgresql';
import { Order } from '../modules/order/order.entity.ts';
import { startSaga, type PlacementDeps } from './order-placement.ts';

// placeOrder commits the order, then schedules its saga. A crash between the two leaves a
// PENDING order that only a retry with the same idempotency key would resume; this sweep resumes
// it. An order with a saga step recorded has a saga; for the others startSaga does nothing when
// the workflow exists, so the sweep is safe beside placeOrder and beside other replicas.

const BATCH = 100;

export interface OrphanRecovery {
  /** One sweep now; resolves with the number of sagas it started. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startOrphanRecovery(deps: Pick<PlacementDeps, 'workflows' | 'settings' | 'logger'> & { orm: MikroORM }, intervalSeconds: number): OrphanRecovery {
  const { orm, logger } = deps;
  let running: Promise<number> | undefined;

  async function sweepOnce(): Promise<number> {
    const candidates = await orm.em.getConnection().execute<{ id: string }[]>(
      `select o.id from orders o
        where o.status = 'PENDING' and o.created_at < now() - make_interval(secs => ?)
          and not exists (select 1 from saga_steps s where s.order_id = o.id)
        order by o.created_at limit ${BATCH}`,
      [intervalSeconds],
    );
    let started = 0;
    for (const { id } of candidates) {
      const order = await orm.em.fork().findOne(Order, { id }, { populate: ['lines'] });
      if (!order || !(await startSaga(deps, order))) continue;
      started += 1;
      logger.warn({ orderId: id }, 'started the saga of an order left without one (placeOrder was interrupted between commit and scheduling)');
    }
    return started;
  }

  const sweep = (): Promise<number> => {
    running ??= sweepOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => {
    sweep().catch((error: unknown) => logger.warn({ err: error }, 'orphaned order sweep failed; the next one retries'));
  }, intervalSeconds * 1_000);
  timer.unref();

  return {
    sweep,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
