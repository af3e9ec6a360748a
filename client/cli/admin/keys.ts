/**
 * The admin keys of this profile (network root, org key), opened from its
 * vault; created on first use, since `network init` and `org init` start
 * from an empty profile.
 */
import { AdminKeys } from '../../sdk';
import { type GlobalOptions, openVault } from '../context';

export async function openAdminKeys(opts: GlobalOptions): Promise<AdminKeys> {
  const { crypto, vault } = await openVault(opts, true);
  return new AdminKeys(crypto, vault);
}
