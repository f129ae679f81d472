"""The Lua scripts of the Redis matchmaker: every state change is one script, hence atomic.

Key layout (``P`` is the key prefix, ``{liveloop}:`` by default). The prefix is a Redis Cluster
*hash tag*: only the part between the first ``{`` and ``}`` is hashed, so every key below lives in
one slot and a script may touch keys it derives at run time (a partner's hash, a dead node's user
set) without ever crossing slots. The tests run the scripts on a cluster-enabled Redis to prove it.

- ``P queue:users``        sorted set, member = user id, score = join time (the seed's queue)
- ``P queue:mode:sfu``     the same entries split by media preference: ``sfu``, ``p2p`` and ``any``
  ``P queue:mode:p2p``     (no preference). Each queued user is in ``queue:users`` and in exactly
  ``P queue:mode:any``     one of these, so a requester reads only the heads of compatible queues.
- ``P user:{sid}``         hash: ``node`` (owning node id), ``mode`` (``""`` = none), ``joined_at``,
                           ``last_partner``; a Redis TTL refreshed by the owner's heartbeat
- ``P node:{id}:users``    the user hashes a node owns, so a dead node is swept in O(its users)
- ``P nodes``              sorted set, member = node id, score = heartbeat deadline (caller's clock)
- ``P metrics:daily``      hash of counters, field ``YYYY-MM-DD:<counter>``
- ``P blocks:user:{sid}``  set of user ids ``sid`` must never meet: partners it skipped or reported
                           in this session (both directions); dropped with the user
- ``P blocks:client:{id}`` set of client ids (signal/client_keys.py) a browser must never
                           meet again: reports, both directions; a TTL (``--report-block-days``)

The user hash also holds ``client`` (the user's client id, ``""`` = none) and ``partner_client``
(its last partner's), so a report blocks the pair even after the partner disconnected, and
``prev_partner`` / ``prev_partner_client``: the memory the latest match replaced, which
``UNMATCH`` restores when that match's partner could not be claimed.

Pairing mirrors :func:`liveloop_sfu.matchmaking.rules.choose_partner` exactly, with the queue in
(join time, user id) order: walk the compatible queues' heads in merged order; skip an entry whose
owner node is dead (and drop it on the way); remember the requester's last partner as a fallback;
take the first other live entry. The walk is bounded: it reads at most ``stale_limit + 2`` entries
(at most one is the last partner, every other skipped entry is a dead one that is dropped or a
blocked one, together at most ``stale_limit``, and the first live eligible entry ends it), so a
call costs O(log n) whatever the queue length. When more than ``stale_limit`` dead or blocked
entries stand in front, the requester takes the fallback or
waits, and the periodic sweep removes the rest. (The rule itself keeps the live queue tiny: two
compatible users never both wait, so it holds at most one ``sfu`` and one ``p2p`` user, or one
user without preference; the bound guards against dead entries piling up, not against load.)

Clocks: deadlines and "dead" are judged with the calling node's wall clock (``now``), so the
nodes' clocks must agree to well within ``entry_ttl`` (NTP does); a node far ahead would treat
live nodes as dead.
"""

from __future__ import annotations

# Helpers shared by the scripts. ARGV[1] is always the key prefix; the scripts derive their key
# names from it (fewer arguments to encode per call: the client's packing dominated its cost) and
# declare KEYS[1] (plus the user's own key where there is one) so that a cluster client routes the
# call to the prefix's slot. The ``#!lua`` shebang opts into Redis 7 script flags: with no
# ``allow-cross-slot-keys`` flag, Redis (in cluster mode) refuses any access outside the slot of
# the declared keys, so a key-layout mistake fails loudly instead of working on one node only.
_PRELUDE = """#!lua
local P = ARGV[1]
local QUEUE, NODES, METRICS = P .. 'queue:users', P .. 'nodes', P .. 'metrics:daily'
local SFU, P2P, ANY = P .. 'queue:mode:sfu', P .. 'queue:mode:p2p', P .. 'queue:mode:any'
local function user_key(id) return P .. 'user:' .. id end
local function node_users_key(node) return P .. 'node:' .. node .. ':users' end
local function mode_index(mode)
  if mode == 'sfu' then return SFU elseif mode == 'p2p' then return P2P end
  return ANY
end
local function unqueue(id)
  -- Unconditionally from every index, so the indexes can never keep an entry the queue lost.
  redis.call('ZREM', SFU, id)
  redis.call('ZREM', P2P, id)
  redis.call('ZREM', ANY, id)
  return redis.call('ZREM', QUEUE, id)
end
local function remove_node(node)
  local set_key = node_users_key(node)
  local users = redis.call('SMEMBERS', set_key)
  for _, id in ipairs(users) do
    unqueue(id)
    redis.call('DEL', user_key(id))
    redis.call('DEL', P .. 'blocks:user:' .. id)
  end
  redis.call('DEL', set_key)
  redis.call('ZREM', NODES, node)
  return #users
end
local function drop(id)
  redis.call('DEL', P .. 'blocks:user:' .. id)
  unqueue(id)
  local node = redis.call('HGET', user_key(id), 'node')
  if node then redis.call('SREM', node_users_key(node), id) end
  redis.call('DEL', user_key(id))
end
"""

# KEYS: 1 queue:users, 2 the requester's hash.
# ARGV: 1 prefix, 2 user id, 3 joined_at, 4 mode ('' = none), 5 node id, 6 entry TTL (ms),
#       7 day (YYYY-MM-DD), 8 stale limit, 9 client id ('' = none)
# Returns {0} (queued, or already queued) or
#         {1, partner id, partner joined_at, partner mode, partner's node, partner's client id}.
MATCH_OR_ENQUEUE = (
    _PRELUDE
    + """
local me, joined, mode, node, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local now = tonumber(joined)
if redis.call('ZSCORE', QUEUE, me) then return {0} end
-- A node unknown so far registers with a full TTL; only heartbeats move a deadline later.
redis.call('ZADD', NODES, 'NX', now + tonumber(ttl) / 1000, node)

local function alive(id)
  local owner = redis.call('HGET', user_key(id), 'node')
  if not owner then return false end
  local deadline = redis.call('ZSCORE', NODES, owner)
  return deadline ~= false and tonumber(deadline) >= now
end

-- Skipped or reported partners (sets that usually do not exist: then no lookups at all).
local my_blocks = P .. 'blocks:user:' .. me
local client = ARGV[9]
local client_blocks = P .. 'blocks:client:' .. client
local check_users = redis.call('EXISTS', my_blocks) == 1
local check_clients = client ~= '' and redis.call('EXISTS', client_blocks) == 1
local function blocked(id)
  if check_users and redis.call('SISMEMBER', my_blocks, id) == 1 then return true end
  if not check_clients then return false end
  local other = redis.call('HGET', user_key(id), 'client')
  return other ~= false and other ~= '' and redis.call('SISMEMBER', client_blocks, other) == 1
end

local function before(a, b)
  local sa, sb = tonumber(a[2]), tonumber(b[2])
  if sa ~= sb then return sa < sb end
  return a[1] < b[1]
end

-- The oldest live entry other than `last` across `sources` (merged in join order), else `last`.
local function choose(sources, last, stale_limit)
  local pos, head = {}, {}
  local function load(i)
    local e = redis.call('ZRANGE', sources[i], pos[i], pos[i], 'WITHSCORES')
    head[i] = (#e > 0) and e or false
  end
  for i = 1, #sources do pos[i] = 0; load(i) end
  local fallback, stale = false, 0
  while true do
    local best = false
    for i = 1, #sources do
      if head[i] and (not best or before(head[i], head[best])) then best = i end
    end
    if not best then break end
    local entry = head[best]
    if not alive(entry[1]) then
      if stale >= stale_limit then break end
      stale = stale + 1
      drop(entry[1])  -- it leaves this source, so the same position now holds the next entry
    elseif blocked(entry[1]) then
      if stale >= stale_limit then break end
      stale = stale + 1
      pos[best] = pos[best] + 1
    else
      if entry[1] ~= last then return entry end
      fallback = fallback or entry
      pos[best] = pos[best] + 1
    end
    load(best)
  end
  return fallback
end

local me_key = KEYS[2]
local last = redis.call('HGET', me_key, 'last_partner')
local sources
if mode == '' then sources = {QUEUE} else sources = {mode_index(mode), ANY} end
local partner = choose(sources, last, tonumber(ARGV[8]))

local previous_owner = redis.call('HGET', me_key, 'node')
if previous_owner and previous_owner ~= node then
  redis.call('SREM', node_users_key(previous_owner), me)
end
redis.call('HSET', me_key, 'node', node, 'mode', mode, 'joined_at', joined, 'client', client)
redis.call('SADD', node_users_key(node), me)
redis.call('PEXPIRE', me_key, ttl)

if not partner then
  redis.call('ZADD', QUEUE, joined, me)
  redis.call('ZADD', mode_index(mode), joined, me)
  return {0}
end

local partner_id = partner[1]
unqueue(partner_id)
local partner_key = user_key(partner_id)
local partner_mode = redis.call('HGET', partner_key, 'mode') or ''
local partner_node = redis.call('HGET', partner_key, 'node') or ''
local partner_client = redis.call('HGET', partner_key, 'client') or ''
-- The memory this match replaces is kept for UNMATCH (a claim that fails).
local function remember(key, other, other_client)
  local before = redis.call('HMGET', key, 'last_partner', 'partner_client')
  redis.call('HSET', key, 'last_partner', other, 'partner_client', other_client,
             'prev_partner', before[1] or '', 'prev_partner_client', before[2] or '')
end
remember(partner_key, me, client)
redis.call('PEXPIRE', partner_key, ttl)
remember(me_key, partner_id, partner_client)
local call_mode = mode
if call_mode == '' then call_mode = partner_mode end
if call_mode == '' then call_mode = 'any' end
redis.call('HINCRBY', METRICS, ARGV[7] .. ':matches', 1)
redis.call('HINCRBY', METRICS, ARGV[7] .. ':matches:' .. call_mode, 1)
return {1, partner_id, partner[2], partner_mode, partner_node, partner_client}
"""
)

# KEYS: 1 queue:users, 2 the user's hash. ARGV: 1 prefix, 2 user id.
# Returns 1 when an entry was removed. The user's last-partner memory stays.
CANCEL = (
    _PRELUDE
    + """
return unqueue(ARGV[2])
"""
)

# KEYS: 1 queue:users, 2 the user's hash. ARGV: 1 prefix, 2 user id, 3 partner id.
# A match that did not become a call: each of the two that still remembers the other as last
# partner gets the memory from before that match back. Returns 1.
UNMATCH = (
    _PRELUDE
    + """
local function restore(id, other)
  local key = user_key(id)
  local state = redis.call('HMGET', key, 'last_partner', 'prev_partner', 'prev_partner_client')
  if state[1] ~= other then return end
  if state[2] and state[2] ~= '' then
    redis.call('HSET', key, 'last_partner', state[2], 'partner_client', state[3] or '')
  else
    redis.call('HDEL', key, 'last_partner', 'partner_client')
  end
  redis.call('HDEL', key, 'prev_partner', 'prev_partner_client')
end
restore(ARGV[2], ARGV[3])
restore(ARGV[3], ARGV[2])
return 1
"""
)

# KEYS: 1 queue:users, 2 the user's hash. ARGV: 1 prefix, 2 user id.
# Entry, memory and ownership go.
FORGET = (
    _PRELUDE
    + """
drop(ARGV[2])
return 1
"""
)

# KEYS: 1 queue:users, 2 the user's hash.
# ARGV: 1 prefix, 2 user id, 3 '1' to block the client ids too (a report), 4 their TTL (ms),
#       5 the TTL (ms) of the per-user sets (a bound; they go with the users anyway).
# Blocks the user's last partner in both directions. Returns {} when the user has had no
# partner, else {partner id, partner's client id ('' = none)}.
AVOID_LAST_PARTNER = (
    _PRELUDE
    + """
local me = ARGV[2]
local partner = redis.call('HGET', KEYS[2], 'last_partner')
if not partner then return {} end
local function block(kind, a, b, ttl, both)
  local ka, kb = P .. 'blocks:' .. kind .. ':' .. a, P .. 'blocks:' .. kind .. ':' .. b
  redis.call('SADD', ka, b)
  redis.call('PEXPIRE', ka, ttl)
  if both then
    redis.call('SADD', kb, a)
    redis.call('PEXPIRE', kb, ttl)
  end
end
-- A partner who is gone (its hash dropped when it disconnected) needs no session block, and one
-- made now would outlive it, since drop() already ran for it.
block('user', me, partner, ARGV[5], redis.call('EXISTS', user_key(partner)) == 1)
local mine = redis.call('HGET', KEYS[2], 'client') or ''
local theirs = redis.call('HGET', KEYS[2], 'partner_client') or ''
if ARGV[3] == '1' and mine ~= '' and theirs ~= '' and mine ~= theirs then
  block('client', mine, theirs, ARGV[4], true)
end
return {partner, theirs}
"""
)

# KEYS: 1 this node's user set.
# ARGV: 1 prefix, 2 node id, 3 new deadline, 4 entry TTL (ms), 5 SSCAN cursor, 6 chunk size.
# Returns {next cursor, 1 if the node was registered before this call}. The first call (cursor 0)
# moves the deadline; later calls only walk the rest of the node's users. A user hash that Redis
# already expired is dropped from the queues here rather than left as a ghost.
HEARTBEAT = (
    _PRELUDE
    + """
local registered = 1
if ARGV[5] == '0' then
  if not redis.call('ZSCORE', NODES, ARGV[2]) then registered = 0 end
  redis.call('ZADD', NODES, ARGV[3], ARGV[2])
end
local page = redis.call('SSCAN', KEYS[1], ARGV[5], 'COUNT', tonumber(ARGV[6]))
for _, id in ipairs(page[2]) do
  if redis.call('PEXPIRE', user_key(id), ARGV[4]) == 0 then
    unqueue(id)
    redis.call('SREM', KEYS[1], id)
  end
end
return {page[1], registered}
"""
)

# KEYS: 1 nodes. ARGV: 1 prefix, 2 now, 3 the calling node's id (never swept: it is evidently
# alive).
# Sweeps one dead node (deadline < now) completely, in one atomic step so that a node can tell
# from its next heartbeat whether it was swept. Returns {node id, users swept} or {} when none.
SWEEP_ONE = (
    _PRELUDE
    + """
local dead = redis.call('ZRANGEBYSCORE', NODES, '-inf', '(' .. ARGV[2], 'LIMIT', 0, 2)
local victim = false
for _, node in ipairs(dead) do
  if node ~= ARGV[3] then victim = node; break end
end
if not victim then return {} end
return {victim, remove_node(victim)}
"""
)

# KEYS: 1 this node's user set. ARGV: 1 prefix, 2 node id.
# A node leaving cleanly takes its users and its registration with it. Returns users removed.
RETIRE = (
    _PRELUDE
    + """
return remove_node(ARGV[2])
"""
)
