import { createStore } from '../../../server/store';
import { MemoryStore } from '../../../server/store/memory-store';
import { describeStoreContract } from './contract';

describeStoreContract('memory', () => ({
  // One process: a "second connection" is the same store.
  async open(options) {
    const store = new MemoryStore(options);
    return { store, twin: async () => store };
  },
  async closeAll() {},
}));

describe('createStore without a Redis URL', () => {
  it('gives the in-memory store', async () => {
    const store = await createStore({});
    expect(store.kind).toBe('memory');
    await store.close();
  });
});
