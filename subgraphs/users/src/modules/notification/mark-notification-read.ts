import { notFound, parseId, requireCaller } from '@agora/service';
import type { Context } from '../../context.ts';
import type { NotificationEntity } from './notification.entity.ts';

/** Marks one of the caller's notifications read; another user's id is NOT_FOUND, exactly like an unknown one. */
export async function markNotificationRead(ctx: Context, id: string): Promise<NotificationEntity> {
  const caller = requireCaller(ctx.caller);
  const notification = await ctx.notifications.findOwned(parseId(id), caller.sub);
  if (!notification) throw notFound('Notification', id);
  notification.readAt ??= new Date();
  await ctx.em.flush();
  return notification;
}
