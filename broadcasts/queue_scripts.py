"""The Lua scripts of the delivery queue (broadcasts/queue.py), and the fields of a stream's entry."""

from __future__ import annotations

from broadcasts.message_ids import UNTIL_FIELD

# The fields of a delivery stream's entry, written by the planner's script (broadcasts/planner.py) and by
# `release`, read only by broadcasts/queue.py. One letter each: a large audience is millions of entries.
CHAT_FIELD = "c"
LANGUAGE_FIELD = "l"  # "" for German, "en" for English
TEXT_FIELD = "t"  # a text of the recipient's own (a digest); absent when the broadcast's text is sent
# The kind of a text of the recipient's own when it is not a digest: "news" for the one request to agree
# to a changed privacy notice (WhatsApp picks its template by the kind).
KIND_FIELD = "k"
# A follow-up's: the platform's reference of what the recipient got from the broadcast it follows
# (broadcasts/message_ids.py), answered as a reply; STEP_FIELD names a correction's steps (Delivery.step).
REPLY_FIELD = "r"
STEP_FIELD = "s"

# Acknowledge, delete and unmark entries and count their outcomes, atomically and only once: an entry
# counts only if this call acknowledged it, so a call the client retried (the answer was lost with the
# connection) counts nothing twice. One that may have gone out before counts as maybe sent twice only if
# it went out this time too: refused now (blocked, gone), the resident has it once at most.
# KEYS: stream, sending set, progress, message references. ARGV: group, channel suffix, then "id outcome
# maybe-sent(0/1)" for every entry in one space-separated string (one argument, not three per entry:
# encoding arguments is most of what a call costs the client), then "id chat reference" for every send
# that named one: kept if this call acknowledged it (an erased resident's entry is gone) or the whole
# stream is gone (the broadcast was cancelled while the send was on the wire: the resident has it, and a
# retraction must reach them; it counts as sent once, by the reference being new), and the broadcast has
# a retention for them (broadcasts/message_ids.py), then the time now by the service's clock (the
# retention's end is one of its times, not the Redis server's).
# Answers the counts it added, as field, count pairs.
SETTLE = f"""
local counts, order, acked = {{}}, {{}}, {{}}
local cancelled = redis.call('EXISTS', KEYS[1]) == 0
local function count(field, n)
  if not counts[field] then counts[field] = 0; order[#order + 1] = field end
  counts[field] = counts[field] + (n or 1)
end
for id, outcome, maybe in string.gmatch(ARGV[3], '(%S+) (%S+) ([01])') do
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then
    redis.call('XDEL', KEYS[1], id)
    redis.call('SREM', KEYS[2], id)
    acked[id] = true
    count(outcome .. ':' .. ARGV[2])
    if maybe == '1' and outcome == 'sent' then count('maybe_duplicate:' .. ARGV[2]) end
  end
end
if ARGV[4] ~= '' then
  local keep = tonumber(redis.call('HGET', KEYS[3], '{UNTIL_FIELD}') or '')
  if keep then
    local refs = {{}}
    for id, chat, ref in string.gmatch(ARGV[4], '(%S+) (%S+) (%S+)') do
      if acked[id] or cancelled then
        refs[#refs + 1] = chat
        refs[#refs + 1] = ref
      end
    end
    if #refs > 0 then
      local new = redis.call('HSET', KEYS[4], unpack(refs))
      redis.call('EXPIRE', KEYS[4], math.max(1, math.floor(keep - tonumber(ARGV[5]))))
      if cancelled and new > 0 then count('sent:' .. ARGV[2], new) end
    end
  end
end
local added = {{}}
for _, field in ipairs(order) do
  redis.call('HINCRBY', KEYS[3], field, counts[field])
  added[#added + 1] = field
  added[#added + 1] = counts[field]
end
return added
"""

# SADD or SREM (ARGV[1]) of the space-separated entry ids in ARGV[2] to or from the sending set KEYS[1].
# Marking is the last step before a send: an entry no longer in the stream KEYS[2] (its resident was
# erased, or the broadcast cancelled) is acknowledged in group ARGV[3] instead, and answered as gone,
# so that a delivery held in a sender's memory meanwhile (a retry) is never sent.
MARK = """
local ids, gone = {}, {}
for id in string.gmatch(ARGV[2], '%S+') do
  if ARGV[1] == 'SADD' and #redis.call('XRANGE', KEYS[2], id, id) == 0 then
    redis.call('XACK', KEYS[2], ARGV[3], id)
    gone[#gone + 1] = id
  else
    ids[#ids + 1] = id
  end
end
if #ids > 0 then redis.call(ARGV[1], KEYS[1], unpack(ids)) end
return gone
"""

# Lua: a stream entry's fields, from the chat, the language and what is optional: the recipient's own text
# (nil where the broadcast's text is sent), its kind, the reference and the step ("" where there is none).
ENTRY = f"""
local function entry(chat, language, text, kind, reply, step)
  local fields = {{'{CHAT_FIELD}', chat, '{LANGUAGE_FIELD}', language}}
  if text then
    fields[#fields + 1] = '{TEXT_FIELD}'
    fields[#fields + 1] = text
  end
  for _, pair in ipairs({{{{'{KIND_FIELD}', kind}}, {{'{REPLY_FIELD}', reply}}, {{'{STEP_FIELD}', step}}}}) do
    if pair[2] ~= '' then
      fields[#fields + 1] = pair[1]
      fields[#fields + 1] = pair[2]
    end
  end
  return fields
end
"""

# Give claimed but unsent deliveries back as new entries (a clean shutdown): only those still in the
# stream KEYS[1], so that an erased resident or a cancelled broadcast never comes back. ARGV: group, then
# (entry id, chat, language, has own text 0/1, own text, kind or "", reference or "", step or "")*. Every
# id is acknowledged.
RELEASE = (
    ENTRY
    + """
for i = 2, #ARGV, 8 do
  local id = ARGV[i]
  if #redis.call('XRANGE', KEYS[1], id, id) > 0 then
    local text = nil
    if ARGV[i + 3] == '1' then text = ARGV[i + 4] end
    redis.call('XADD', KEYS[1], '*', unpack(entry(ARGV[i + 1], ARGV[i + 2], text, ARGV[i + 5], ARGV[i + 6],
                                                  ARGV[i + 7])))
    redis.call('XDEL', KEYS[1], id)
  end
  redis.call('XACK', KEYS[1], ARGV[1], id)
end
return 0
"""
)
