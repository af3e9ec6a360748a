/**
 * removeRedisPrefix: what a demo calls to leave a shared Redis as it found
 * it. It removes exactly the keys under its prefix and refuses the
 * prefixes real relays use.
 */
import { removeRedisPrefix } from '../../../server/store';
import { RedisStore } from '../../../server/store/redis-store';
import { isHandoverError } from '../../../shared/errors';
import { startRedis, type TestRedis } from '../../support/redis';
import { envelope } from './contract';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

it('removes every key a store wrote under its prefix, and nothing else', async () => {
  const write = async (keyPrefix: string) => {
    const store = await RedisStore.connect({ url: redis.url, keyPrefix });
    await store.putOrg('org-a', '{}');
    await store.putDevice('dev-a', 'org-a', '{}');
    await store.putSession('hash-1', 'dev-a', 60_000);
    await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']));
    await store.putNotice('dev-a', '{"n":1}');
    await store.close();
  };
  await write('demo-1:');
  await write('other:');
  const before = (await redis.client().keys('demo-1:*')).length;
  expect(before).toBeGreaterThan(5);
  expect(await removeRedisPrefix(redis.url, 'demo-1:')).toBe(before);
  expect(await redis.client().keys('demo-1:*')).toEqual([]);
  expect((await redis.client().keys('other:*')).length).toBe(before);
});

it.each(['', 'ho:', 'bad prefix*'])('refuses the prefix %j', async (prefix) => {
  const outcome = await removeRedisPrefix(redis.url, prefix).then(
    () => 'resolved',
    (err: unknown) => (isHandoverError(err) ? err.code : String(err)),
  );
  expect(outcome).toBe('BAD_REQUEST');
});
