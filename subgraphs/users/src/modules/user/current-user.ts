import { requireCaller } from '@agora/service';
import type { Context } from '../../context.ts';
import type { UserEntity } from './user.entity.ts';

export const currentUser = (ctx: Context): Promise<UserEntity> => ctx.users.findOrCreateFromToken(requireCaller(ctx.caller));
