/**
 * Lua scripts for the operations that must be atomic in Redis. Each one
 * touches only the keys it is given (KEYS), all under one hash tag.
 * Redis Lua returns `false` for a missing value.
 */
import { createHash } from 'node:crypto';

export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
  readonly keyCount: number;
}

function script(name: string, keyCount: number, lua: string): LuaScript {
  return { name, lua, keyCount, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * KEYS: orgs hash, the org's history list. ARGV: orgId, certJson.
 * Sets the current certificate; the history gains it unless it holds it already.
 */
export const PUT_ORG = script(
  'put-org',
  2,
  `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if not redis.call('LPOS', KEYS[2], ARGV[2]) then redis.call('RPUSH', KEYS[2], ARGV[2]) end
return 1
`,
);

/**
 * KEYS: device-certs hash, device-orgs hash, membership zset ("<orgId>:<deviceId>", all score 0).
 * ARGV: deviceId, orgId, certJson. Moving a device to another org drops its old membership.
 */
export const PUT_DEVICE = script(
  'put-device',
  3,
  `
local previous = redis.call('HGET', KEYS[2], ARGV[1])
if previous and previous ~= ARGV[2] then redis.call('ZREM', KEYS[3], previous .. ':' .. ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2] .. ':' .. ARGV[1])
return 1
`,
);

/**
 * KEYS: revocation heads hash, the issuer's log list. ARGV: issuerId, seq, json.
 * Returns {1, seq} when appended, {0, head} when seq is not head + 1.
 */
export const APPEND_REVOCATION = script(
  'append-revocation',
  2,
  `
local head = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) ~= head + 1 then return {0, head} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
return {1, head + 1}
`,
);

/**
 * KEYS: prekey hash (id -> json), prekey id zset, highest id ever accepted.
 * ARGV: cap, then id, json pairs sorted by ascending id.
 * Only ids above the highest ever accepted are new. Returns {1, added, count} or {0, count}.
 */
export const ADD_ONE_TIME_PREKEYS = script(
  'add-one-time-prekeys',
  3,
  `
local highest = tonumber(redis.call('GET', KEYS[3]) or '-1')
local count = redis.call('ZCARD', KEYS[2])
local fresh = {}
for i = 2, #ARGV, 2 do
  if tonumber(ARGV[i]) > highest then fresh[#fresh + 1] = i end
end
if count + #fresh > tonumber(ARGV[1]) then return {0, count} end
for _, i in ipairs(fresh) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i])
end
if #fresh > 0 then redis.call('SET', KEYS[3], ARGV[fresh[#fresh]]) end
return {1, #fresh, count + #fresh}
`,
);

/** KEYS: prekey hash, prekey id zset. Returns {id, json} of the lowest id, or false. */
export const POP_ONE_TIME_PREKEY = script(
  'pop-one-time-prekey',
  2,
  `
local popped = redis.call('ZPOPMIN', KEYS[2])
if #popped == 0 then return false end
local json = redis.call('HGET', KEYS[1], popped[1])
redis.call('HDEL', KEYS[1], popped[1])
if not json then return false end
return {popped[1], json}
`,
);

/** KEYS: a device's session index. ARGV: tokenHash, ttlMs. Keeps the index alive as long as its longest session. */
export const INDEX_SESSION = script(
  'index-session',
  1,
  `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`,
);

/** KEYS: the window's counter. ARGV: ttlMs. Returns the count including this hit. */
export const HIT_RATE_WINDOW = script(
  'hit-rate-window',
  1,
  `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`,
);

/*
 * A message's life in Redis: `seen` (replay memory, value =
 * "<remembered-until ms>:<fingerprint of the accepted envelope>") outlives
 * `env` (hash: sender, exp, blob, done) and `pending` (set of recipients that
 * have neither acked nor expired). `done` is '0' while the inbox writes are
 * in flight, so a retry of the same envelope can finish a half-done enqueue.
 * A `seen` written before fingerprints were kept is a bare number: its
 * fingerprint is unknown, so it never counts as the same envelope.
 *
 * ARGV[1] = now, ARGV[2] = fingerprint. state: 'new'; 'duplicate' (the same
 * envelope, done); 'resume' (the same envelope, half done); 'conflict'
 * (another envelope holds this id).
 */
const MESSAGE_STATE = `
local seen = redis.call('GET', KEYS[1])
local state = 'new'
if seen then
  local colon = string.find(seen, ':', 1, true)
  local untilMs = tonumber(colon and string.sub(seen, 1, colon - 1) or seen)
  local fingerprint = colon and string.sub(seen, colon + 1) or ''
  if untilMs and untilMs > tonumber(ARGV[1]) then
    local same = fingerprint == ARGV[2]
    local halfDone = redis.call('HGET', KEYS[2], 'done') == '0'
    if halfDone and (same or fingerprint == '') then state = 'resume'
    elseif same then state = 'duplicate'
    else state = 'conflict' end
  end
end
`;

/** KEYS: seen, env, pending. ARGV: now, fingerprint. Returns the state without writing. */
export const PEEK_MESSAGE = script('peek-message', 3, `${MESSAGE_STATE}\nreturn state\n`);

/**
 * KEYS: seen, env, pending. ARGV: now, fingerprint, seenUntil, seenTtlMs, sender, expiresAt, envTtlMs, blob, recipients...
 * Claims a new message id and stores the envelope once. Returns 'stored', or the state that stopped it.
 */
export const CLAIM_MESSAGE = script(
  'claim-message',
  3,
  `${MESSAGE_STATE}
if state ~= 'new' then return state end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], ARGV[3] .. ':' .. ARGV[2], 'PX', ARGV[4])
redis.call('HSET', KEYS[2], 'sender', ARGV[5], 'exp', ARGV[6], 'blob', ARGV[8], 'done', '0')
redis.call('PEXPIRE', KEYS[2], ARGV[7])
for i = 9, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
redis.call('PEXPIRE', KEYS[3], ARGV[7])
return 'stored'
`,
);

/** KEYS: env. Marks every inbox write done, unless the envelope is already gone. */
export const MARK_MESSAGE_DONE = script(
  'mark-message-done',
  1,
  `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'done', '1') end
return 1
`,
);

/** KEYS: inbox stream, inbox index. ARGV: messageId. Idempotent: 1 if added, 0 if already there. */
export const INBOX_ADD = script(
  'inbox-add',
  2,
  `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
local entry = redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], entry)
return 1
`,
);

/** KEYS: inbox stream, inbox index. ARGV: messageId. 1 if it was in the inbox. */
export const INBOX_REMOVE = script(
  'inbox-remove',
  2,
  `
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return 0 end
redis.call('XDEL', KEYS[1], entry)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`,
);

/** KEYS: inbox stream, inbox index. Deletes the inbox; returns the message ids it held. */
export const DRAIN_INBOX = script(
  'drain-inbox',
  2,
  `
local ids = redis.call('HKEYS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return ids
`,
);

/**
 * KEYS: pending, env. ARGV: deviceId. The single decisive step for one
 * recipient (ack, expiry and inbox deletion all go through it or EXPIRE_MESSAGE).
 * Returns {released 0/1, freed 0/1}; frees the blob after the last recipient.
 */
export const RELEASE_RECIPIENT = script(
  'release-recipient',
  2,
  `
local released = redis.call('SREM', KEYS[1], ARGV[1])
local freed = 0
if redis.call('SCARD', KEYS[1]) == 0 then
  freed = redis.call('DEL', KEYS[2])
  redis.call('DEL', KEYS[1])
end
return {released, freed}
`,
);

/** KEYS: expiry zset. ARGV: now, limit. Removes and returns due message ids, earliest first. */
export const CLAIM_DUE = script(
  'claim-due',
  1,
  `
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids
`,
);

/** KEYS: pending, env. Deletes the envelope; returns {sender, recipients still pending...} or false. */
export const EXPIRE_MESSAGE = script(
  'expire-message',
  2,
  `
local sender = redis.call('HGET', KEYS[2], 'sender')
local pending = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
if not sender then return false end
table.insert(pending, 1, sender)
return pending
`,
);
