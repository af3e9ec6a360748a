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
 * An envelope's life in Redis. One script per recipient inbox, under the
 * recipient's hash tag, does the replay check, the inbox cap and the write
 * in one step. An envelope to one device keeps its bytes in that inbox:
 * its enqueue is one round trip. An envelope to several devices keeps its
 * bytes once, under the message's tag, with the set of recipients that
 * have not acked it (its header lists every recipient, so a copy per inbox
 * would grow with the square of the recipient count; DECISIONS 2026-12-06).
 *
 *   inbox:{d}        stream of entries  m = message id, s = sender, e = expiresAt, b = 'shared' for a body kept once
 *   inbox-index:{d}  hash  message id -> stream entry id (pending envelopes)
 *   inbox-body:{d}   hash  message id -> envelope bytes (pending envelopes to this device alone)
 *   env:{m}          the envelope bytes of a message to several devices
 *   pending:{m}      set of its recipients that have not acked it (the bytes go with the last)
 *   replay:{d}       hash  message id -> "<remembered-until ms>:<recipients digest>:<fingerprint>"
 *   replay-due:{d}   zset  message id by remembered-until, to forget lapsed ids
 *
 * The replay memory outlives delivery (the retention window). A message id
 * is 'new' for an inbox when it holds no live replay record for it,
 * 'duplicate' when it holds this fingerprint and recipient set (a retry),
 * 'moved' when it holds this fingerprint for another recipient set (nothing
 * to do: never resumed), 'conflict' when it holds another fingerprint
 * (another envelope under this id). ARGV[3] is "<recipients digest>:<fingerprint>".
 */
const INBOX_STATE = `
local seen = redis.call('HGET', KEYS[4], ARGV[2])
local state = 'new'
if seen then
  local colon = string.find(seen, ':', 1, true)
  local untilMs = tonumber(colon and string.sub(seen, 1, colon - 1) or seen)
  if untilMs and untilMs > tonumber(ARGV[1]) then
    local rest = colon and string.sub(seen, colon + 1) or ''
    local second = string.find(rest, ':', 1, true)
    if rest == ARGV[3] then state = 'duplicate'
    elseif second and string.sub(rest, second + 1) == string.sub(ARGV[3], string.find(ARGV[3], ':', 1, true) + 1) then state = 'moved'
    else state = 'conflict' end
  end
end
`;

/** The five keys of one inbox, in the order the inbox scripts take them. */
export const INBOX_KEY_COUNT = 5;

/**
 * KEYS: the five inbox keys. ARGV: now, messageId, digest:fingerprint, maxLength.
 * Returns 'new', 'duplicate', 'moved', 'conflict' or 'full' (new, but the inbox is at
 * its cap) without writing anything.
 */
export const PEEK_INBOX = script(
  'peek-inbox',
  INBOX_KEY_COUNT,
  `${INBOX_STATE}
if state == 'new' and redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[4]) then return 'full' end
return state
`,
);

/**
 * KEYS: the five inbox keys. ARGV: now, messageId, digest:fingerprint, maxLength
 * (0: no cap check), sender, expiresAt, inboxTtlMs, rememberUntil,
 * rememberTtlMs, blob, 'own' or 'shared' ('shared': the bytes are kept once,
 * in env:{m}, and blob is empty).
 * Forgets a few lapsed replay records, then stores the envelope in the
 * inbox and remembers its id, unless the id is known here or the inbox is full. Returns 'stored', 'duplicate', 'moved', 'conflict' or 'full'.
 */
export const ENQUEUE_INBOX = script(
  'enqueue-inbox',
  INBOX_KEY_COUNT,
  `
local lapsed = redis.call('ZRANGE', KEYS[5], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, 16)
if #lapsed > 0 then
  redis.call('HDEL', KEYS[4], unpack(lapsed))
  redis.call('ZREM', KEYS[5], unpack(lapsed))
end
${INBOX_STATE}
if state ~= 'new' then return state end
local cap = tonumber(ARGV[4])
if cap > 0 and redis.call('XLEN', KEYS[1]) >= cap then return 'full' end
local entry
if ARGV[11] == 'shared' then
  entry = redis.call('XADD', KEYS[1], '*', 'm', ARGV[2], 's', ARGV[5], 'e', ARGV[6], 'b', 'shared')
else
  entry = redis.call('XADD', KEYS[1], '*', 'm', ARGV[2], 's', ARGV[5], 'e', ARGV[6])
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[10])
end
redis.call('HSET', KEYS[2], ARGV[2], entry)
redis.call('HSET', KEYS[4], ARGV[2], ARGV[8] .. ':' .. ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[8], ARGV[2])
-- Redis drops an inbox on its own only after its last envelope (plus grace), in case no relay takes expiries.
local ttl = tonumber(ARGV[7])
for i = 1, (ARGV[11] == 'shared') and 2 or 3 do
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
redis.call('PEXPIRE', KEYS[4], ARGV[9])
redis.call('PEXPIRE', KEYS[5], ARGV[9])
return 'stored'
`,
);

/**
 * KEYS: inbox stream, inbox index, inbox bodies. ARGV: messageId.
 * Removes a pending envelope (ack, dangling entry). Returns false if it was
 * not there, 'own' if its bytes were in this inbox, 'shared' if they are
 * kept once (the caller then releases this recipient from env:{m}).
 */
export const INBOX_REMOVE = script(
  'inbox-remove',
  3,
  `
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return false end
redis.call('XDEL', KEYS[1], entry)
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[3], ARGV[1]) == 1 then return 'own' end
return 'shared'
`,
);

/**
 * KEYS: inbox stream, inbox index, inbox bodies. ARGV: messageId, now.
 * Takes an expired envelope out of the inbox. Returns {'own' or 'shared', sender};
 * {'later', expiresAt} when it is not due yet (its expiry entry was
 * scheduled by an earlier attempt); false when it is no longer pending.
 */
export const EXPIRE_INBOX_ENTRY = script(
  'expire-inbox-entry',
  3,
  `
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return false end
local found = redis.call('XRANGE', KEYS[1], entry, entry)
local sender, exp = '', 0
if #found > 0 then
  local fields = found[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 's' then sender = fields[i + 1] elseif fields[i] == 'e' then exp = tonumber(fields[i + 1]) or 0 end
  end
end
if exp > tonumber(ARGV[2]) then return {'later', tostring(exp)} end
redis.call('XDEL', KEYS[1], entry)
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[3], ARGV[1]) == 1 then return {'own', sender} end
return {'shared', sender}
`,
);

/**
 * KEYS: inbox stream, inbox index, inbox bodies. Deletes the inbox; returns
 * the message ids it held, each followed by 'own' or 'shared' (as INBOX_REMOVE).
 */
export const DRAIN_INBOX = script(
  'drain-inbox',
  3,
  `
local ids = redis.call('HKEYS', KEYS[2])
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = (redis.call('HEXISTS', KEYS[3], id) == 1) and 'own' or 'shared'
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return out
`,
);

/**
 * KEYS: env, pending. ARGV: ttlMs, blob, recipients... Keeps the bytes of an
 * envelope to several devices once (unless a retry finds them there) and
 * adds the recipients this call is about to write to. Before any inbox entry.
 */
export const KEEP_SHARED_BODY = script(
  'keep-shared-body',
  2,
  `
redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[1])
for i = 3, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return 1
`,
);

/**
 * KEYS: pending, env. ARGV: deviceId. Releases one recipient of a shared
 * body; frees the bytes after the last. Returns 1 if they were freed.
 */
export const RELEASE_SHARED_BODY = script(
  'release-shared-body',
  2,
  `
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  return redis.call('DEL', KEYS[2])
end
return 0
`,
);

/** KEYS: expiry zset. ARGV: now, limit. Removes and returns due members ("<messageId>/<deviceId>"), earliest first. */
export const CLAIM_DUE = script(
  'claim-due',
  1,
  `
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids
`,
);

/**
 * KEYS: the device's notice stream. ARGV: json, max notices, ttlMs. Appends
 * a notice (dropping the oldest beyond the max) and keeps the stream no
 * longer than the retention window after its last notice. Returns its id.
 */
export const PUT_NOTICE = script(
  'put-notice',
  1,
  `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'n', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return id
`,
);

/**
 * KEYS: pending, env of a message enqueued before 2026-12-06 (env a hash
 * with sender, exp, blob). Deletes it; returns {sender, recipients still
 * pending...} or false. Only for expiries scheduled by those relays.
 */
export const EXPIRE_LEGACY_MESSAGE = script(
  'expire-legacy-message',
  2,
  `
if redis.call('TYPE', KEYS[2])['ok'] ~= 'hash' then return false end
local sender = redis.call('HGET', KEYS[2], 'sender')
local pending = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
if not sender then return false end
table.insert(pending, 1, sender)
return pending
`,
);
