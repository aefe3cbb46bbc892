import { badInput } from '@agora/service';
import type { Context } from '../../context.ts';
import { currentUser } from './current-user.ts';
import type { UserEntity } from './user.entity.ts';

/** E.164: a plus, a country code and up to 15 digits in all (https://www.itu.int/rec/T-REC-E.164). */
const E164 = /^\+[1-9]\d{6,14}$/;

/** Sets the caller's mobile number for SMS notices (null removes it). */
export async function setPhoneNumber(ctx: Context, phoneNumber: string | null | undefined): Promise<UserEntity> {
  const normalized = phoneNumber?.replace(/[\s()-]/g, '') || null;
  if (normalized !== null && !E164.test(normalized)) throw badInput('phoneNumber must be an international number such as +4915112345678 (E.164)', { field: 'phoneNumber' });
  const user = await currentUser(ctx);
  user.phoneNumber = normalized;
  await ctx.em.flush();
  return user;
}
