/* trial.c -- the enrollment core: see trial.h.
 *
 * Layout of a trial:
 *   - every user is one `entry` allocation: arrival number, state, length and the id bytes;
 *   - `index`, an open-addressing hash table (linear probing) of entry pointers with two parallel
 *     arrays of bytes: tags (7 bits of the hash), so a probe rarely touches an entry, and each
 *     slot's distance from its home slot, so a removal shifts the run behind it back without
 *     touching (rehashing) the entries of that run;
 *   - two `sequence`s, enrolled and waitlist, each an array of slots ordered by arrival number.
 *     Removing from the middle leaves a tombstone that still records the arrival number, so a
 *     sequence stays binary-searchable; tombstones are compacted away once they outnumber the
 *     live slots.
 *
 * Invariant kept by every operation: when the waitlist is not empty, the trial is full
 * (enrolled >= capacity). That is what keeps promotion FIFO and the enrolled sequence append-only
 * in the common case. */
#include "trial.h"

#include "core_alloc.h"

#include <string.h>

/* Arrival numbers stay below this so that every value fits a signed 64-bit reply and a tombstone
 * (arrival << 1 | 1) fits a slot. */
#define MAX_TICKET ((uint64_t)INT64_MAX - 1)

/* ---- allocation ------------------------------------------------------------------------------ */
static uint64_t hash_seed = 0x9e3779b97f4a7c15ULL;

/* Bytes an entry of each id length really takes. Allocators hand out fixed size classes, so this
 * is learnt once per length instead of asking the allocator on every enroll and cancel; learnt
 * again when the allocator is replaced. */
static size_t entry_block_sizes[TRIAL_MAX_USER_LEN + 1];
static unsigned entry_block_sizes_generation;

void trial_set_hash_seed(uint64_t seed) { hash_seed = seed; }

/* ---- data ------------------------------------------------------------------------------------ */
typedef struct entry {
    uint64_t ticket;
    uint32_t len;
    uint8_t state; /* TRIAL_STATE_ENROLLED or TRIAL_STATE_WAITLISTED */
    char id[];
} entry;

/* A slot holds an entry pointer (even) or a tombstone: (arrival << 1) | 1. */
typedef uintptr_t slot;

typedef struct sequence {
    slot *slots;
    size_t head;  /* first slot in use */
    size_t tail;  /* one past the last slot in use */
    size_t cap;
    size_t live;  /* slots in [head, tail) that hold an entry */
} sequence;

typedef struct index_table {
    entry **entries;
    uint8_t *tags;  /* 0: empty; otherwise 0x80 | 7 bits of the hash */
    uint8_t *dists; /* of a live slot: its distance from its home slot, DIST_FAR for DIST_FAR or more */
    size_t cap;     /* power of two, or 0 */
    size_t count;
} index_table;

struct trial {
    uint64_t capacity;
    uint64_t waitlist_max;
    uint64_t next_ticket;
    sequence enrolled;
    sequence waitlist;
    index_table index;
    index_table old;   /* the table being drained into `index` while growing, or empty */
    size_t rehash_pos; /* next slot of `old` to move */
    size_t bytes; /* allocator bytes held by everything except the struct itself */
};

static size_t block_size(void *ptr, size_t requested) { return core_block_size(ptr, requested); }

static void *tracked_alloc(trial *t, size_t size) {
    void *p = core_alloc(size);
    t->bytes += block_size(p, size);
    return p;
}

static void tracked_free(trial *t, void *ptr, size_t size) {
    if (ptr == NULL) return;
    t->bytes -= block_size(ptr, size);
    core_free(ptr);
}

static void *tracked_realloc(trial *t, void *ptr, size_t old_size, size_t size) {
    size_t before = block_size(ptr, old_size);
    void *p = core_realloc(ptr, size);
    if (p == NULL) return NULL;
    t->bytes = t->bytes - before + block_size(p, size);
    return p;
}

/* ---- entries --------------------------------------------------------------------------------- */
static size_t entry_size(size_t len) { return offsetof(entry, id) + len; }

static entry *entry_new(trial *t, const char *user, size_t len, uint64_t ticket, uint8_t state) {
    entry *e = core_alloc(entry_size(len));
    if (e == NULL) return NULL;
    if (entry_block_sizes_generation != core_allocator_generation) {
        memset(entry_block_sizes, 0, sizeof(entry_block_sizes));
        entry_block_sizes_generation = core_allocator_generation;
    }
    if (entry_block_sizes[len] == 0) entry_block_sizes[len] = block_size(e, entry_size(len));
    t->bytes += entry_block_sizes[len];
    e->ticket = ticket;
    e->len = (uint32_t)len;
    e->state = state;
    memcpy(e->id, user, len);
    return e;
}

static void entry_free(trial *t, entry *e) {
    t->bytes -= entry_block_sizes[e->len]; /* learnt when the entry was made */
    core_free(e);
}

static int valid_user(size_t len) { return len > 0 && len <= TRIAL_MAX_USER_LEN; }

/* ---- hashing --------------------------------------------------------------------------------- */
static uint64_t mix64(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_user(const char *user, size_t len) {
    uint64_t h = hash_seed ^ ((uint64_t)len * 0xc2b2ae3d27d4eb4fULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, user + i, 8);
        h = mix64(h ^ chunk) + 0x165667b19e3779f9ULL;
    }
    uint64_t rest = 0;
    for (size_t shift = 0; i < len; i++, shift += 8) rest |= (uint64_t)(unsigned char)user[i] << shift;
    return mix64(h ^ rest ^ 0x27d4eb2f165667c5ULL);
}

static uint8_t tag_of(uint64_t h) { return (uint8_t)(0x80 | (h >> 57)); }

/* ---- index -----------------------------------------------------------------------------------
 * Growing a table never rehashes every user at once (that would stall Redis for hundreds of ms
 * on a trial of millions): the full table becomes `old`, a table twice the size becomes `index`,
 * and every write moves a few old slots over until `old` is empty. Meanwhile lookups search both.
 * In `old`, vacated slots become tombstones (tag 1) so probe runs through them stay unbroken. */
#define INDEX_MIN_CAP 8
/* Grow past 13/16 (~81%) full: the tag bytes keep long probe runs cheap. */
#define INDEX_FULL(count, cap) ((count) * 16 > (cap) * 13)
#define TAG_EMPTY 0
#define TAG_MOVED 1
#define REHASH_STEP 32 /* old slots moved per write while rehashing */
/* A distance this long is recomputed from the entry's hash when needed. The unit tests run once
 * more with it set to 2 (make unit: build/unit/far/), so that path is taken all the time there. */
#ifdef TRIAL_DIST_FAR
#define DIST_FAR TRIAL_DIST_FAR
#else
#define DIST_FAR 255
#endif

static int tag_is_live(uint8_t tag) { return tag >= 0x80; }

static entry *table_find(const index_table *ix, const char *user, size_t len, uint64_t h) {
    if (ix->cap == 0) return NULL;
    size_t mask = ix->cap - 1;
    uint8_t tag = tag_of(h);
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint8_t tg = ix->tags[i];
        if (tg == TAG_EMPTY) return NULL;
        if (tg == tag) {
            entry *e = ix->entries[i];
            if (e->len == len && memcmp(e->id, user, len) == 0) return e;
        }
    }
}

static entry *index_find(const trial *t, const char *user, size_t len, uint64_t h) {
    entry *e = table_find(&t->index, user, len, h);
    if (e == NULL && t->old.cap != 0) e = table_find(&t->old, user, len, h);
    return e;
}

static void rehash_step(trial *t, size_t slots);

static uint8_t dist_byte(size_t dist) { return dist < DIST_FAR ? (uint8_t)dist : DIST_FAR; }

/* Place an entry known to be absent; the table must have room. Only `index` is placed into,
 * and it never holds tombstones. */
static void table_place(index_table *ix, entry *e, uint64_t h) {
    size_t mask = ix->cap - 1;
    size_t home = (size_t)h & mask, i = home;
    while (ix->tags[i] != TAG_EMPTY) i = (i + 1) & mask;
    ix->tags[i] = tag_of(h);
    ix->dists[i] = dist_byte((i - home) & mask);
    ix->entries[i] = e;
    ix->count++;
}

/* An empty table of `cap` slots in `out`; -1 (nothing allocated) when memory runs out. */
static int table_alloc(trial *t, size_t cap, index_table *out) {
    entry **entries = tracked_alloc(t, cap * sizeof(*entries));
    uint8_t *tags = tracked_alloc(t, cap), *dists = tracked_alloc(t, cap);
    if (entries == NULL || tags == NULL || dists == NULL) {
        tracked_free(t, entries, cap * sizeof(*entries));
        tracked_free(t, tags, cap);
        tracked_free(t, dists, cap);
        return -1;
    }
    memset(tags, TAG_EMPTY, cap);
    *out = (index_table){entries, tags, dists, cap, 0};
    return 0;
}

static void table_free(trial *t, index_table *ix) {
    tracked_free(t, ix->entries, ix->cap * sizeof(*ix->entries));
    tracked_free(t, ix->tags, ix->cap);
    tracked_free(t, ix->dists, ix->cap);
    memset(ix, 0, sizeof(*ix));
}

/* Make `fresh` the table users are placed into and the current one `old`, to be drained. */
static void table_switch(trial *t, const index_table *fresh) {
    t->old = t->index;
    t->rehash_pos = 0;
    t->index = *fresh;
    if (t->old.count == 0) table_free(t, &t->old);
    else rehash_step(t, REHASH_STEP);
}

/* Move up to `slots` slots of `old` into `index`; drop `old` once it is drained. */
static void rehash_step(trial *t, size_t slots) {
    index_table *old = &t->old;
    if (old->cap == 0) return;
    for (; slots > 0 && t->rehash_pos < old->cap && old->count > 0; slots--, t->rehash_pos++) {
        size_t i = t->rehash_pos;
        if (!tag_is_live(old->tags[i])) continue;
        entry *e = old->entries[i];
        table_place(&t->index, e, hash_user(e->id, e->len));
        old->tags[i] = TAG_MOVED;
        old->count--;
    }
    if (old->count == 0 || t->rehash_pos == old->cap) table_free(t, old);
}

/* Make room for one more entry in `index`. */
static int index_reserve(trial *t) {
    index_table *ix = &t->index;
    if (t->old.cap != 0) {
        rehash_step(t, REHASH_STEP);
        /* Each write moves REHASH_STEP old slots, so the doubled table cannot fill up before the
         * old one is drained; finish at once should that ever be false. */
        if (t->old.cap != 0 && INDEX_FULL(ix->count + t->old.count + 1, ix->cap)) rehash_step(t, SIZE_MAX);
    }
    if (ix->cap != 0 && !INDEX_FULL(ix->count + 1, ix->cap)) return 0;
    if (t->old.cap != 0) rehash_step(t, SIZE_MAX); /* not reached: see above */

    size_t new_cap = ix->cap ? ix->cap * 2 : INDEX_MIN_CAP;
    while (INDEX_FULL(ix->count + 1, new_cap)) new_cap *= 2;
    index_table fresh;
    if (table_alloc(t, new_cap, &fresh) != 0) return -1;
    table_switch(t, &fresh);
    return 0;
}

/* Remove an entry from `index` by backward-shift deletion (keeps probe runs unbroken without
 * tombstones). Returns 0 when the entry is not in this table. */
static int table_remove_shift(index_table *ix, const entry *e, uint64_t h) {
    if (ix->cap == 0) return 0;
    size_t mask = ix->cap - 1;
    size_t i = (size_t)h & mask;
    while (ix->tags[i] == TAG_EMPTY || ix->entries[i] != e) {
        if (ix->tags[i] == TAG_EMPTY) return 0;
        i = (i + 1) & mask;
    }
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; ix->tags[j] != TAG_EMPTY; j = (j + 1) & mask) {
        /* Move j back into the hole unless its home lies cyclically in (hole, j], i.e. unless it
         * is nearer its home than the hole is. The stored distance says so without reading the
         * entry; only a distance of DIST_FAR or more needs the hash. */
        size_t dist = ix->dists[j];
        if (dist == DIST_FAR) dist = (j - (size_t)hash_user(ix->entries[j]->id, ix->entries[j]->len)) & mask;
        size_t gap = (j - hole) & mask;
        if (dist < gap) continue;
        ix->tags[hole] = ix->tags[j];
        ix->dists[hole] = dist_byte(dist - gap);
        ix->entries[hole] = ix->entries[j];
        hole = j;
    }
    ix->tags[hole] = TAG_EMPTY;
    ix->entries[hole] = NULL;
    ix->count--;
    return 1;
}

/* After mass cancellations: once `index` is under 1/16 full, move the users into a table sized for
 * four times their number, by the same incremental draining as growing. Optional: when the new
 * table cannot be allocated, nothing changes. */
#define INDEX_SPARSE(count, cap) ((cap) > INDEX_MIN_CAP && (count) * 16 < (cap))

static void index_maybe_shrink(trial *t) {
    index_table *ix = &t->index;
    if (t->old.cap != 0 || !INDEX_SPARSE(ix->count, ix->cap)) return;
    size_t new_cap = INDEX_MIN_CAP;
    while (INDEX_FULL(ix->count * 4 + 1, new_cap)) new_cap *= 2;
    if (new_cap >= ix->cap) return;
    index_table fresh;
    if (table_alloc(t, new_cap, &fresh) == 0) table_switch(t, &fresh);
}

/* Remove an entry that is in the index (either table). Removals also move old slots along, so a
 * table being drained empties even when no user arrives. */
static void index_remove(trial *t, const entry *e, uint64_t h) {
    if (!table_remove_shift(&t->index, e, h)) {
        index_table *old = &t->old;
        size_t mask = old->cap - 1;
        size_t i = (size_t)h & mask;
        while (!(tag_is_live(old->tags[i]) && old->entries[i] == e)) i = (i + 1) & mask;
        old->tags[i] = TAG_MOVED;
        old->count--;
        if (old->count == 0) table_free(t, old);
    }
    rehash_step(t, REHASH_STEP);
    index_maybe_shrink(t);
}

/* ---- sequences ------------------------------------------------------------------------------- */
static int slot_is_live(slot s) { return (s & 1) == 0; }
static entry *slot_entry(slot s) { return (entry *)s; }
static uint64_t slot_ticket(slot s) { return slot_is_live(s) ? slot_entry(s)->ticket : (uint64_t)(s >> 1); }
static slot tombstone(uint64_t ticket) { return ((slot)ticket << 1) | 1; }

static size_t seq_used(const sequence *q) { return q->tail - q->head; }

/* Move live slots to the front, dropping tombstones. */
static void seq_compact(sequence *q) {
    size_t out = 0;
    for (size_t i = q->head; i < q->tail; i++)
        if (slot_is_live(q->slots[i])) q->slots[out++] = q->slots[i];
    q->head = 0;
    q->tail = out;
}

static void seq_maybe_shrink(trial *t, sequence *q) {
    if (q->cap > 64 && q->tail * 4 < q->cap) {
        size_t new_cap = q->cap / 2;
        slot *p = tracked_realloc(t, q->slots, q->cap * sizeof(slot), new_cap * sizeof(slot));
        if (p != NULL) {
            q->slots = p;
            q->cap = new_cap;
        }
    }
}

static size_t seq_lower_bound(const sequence *q, uint64_t ticket);

/* Room for n more slots at the tail: reuse dead slots when at least half the array is dead, grow
 * otherwise. */
static int seq_reserve_n(trial *t, sequence *q, size_t n) {
    if (q->cap - q->tail >= n) return 0;
    size_t dead = seq_used(q) - q->live + q->head; /* tombstones and the free prefix */
    if (q->cap - q->tail + dead >= n && dead >= q->cap / 2) {
        seq_compact(q); /* at least half the array was dead: reuse it */
        return 0;
    }
    size_t new_cap = q->cap ? q->cap : 8;
    while (new_cap - q->tail < n || new_cap < q->cap * 2) new_cap *= 2; /* growing keeps tombstones */
    slot *p = tracked_realloc(t, q->slots, q->cap * sizeof(slot), new_cap * sizeof(slot));
    if (p == NULL) {
        /* Out of memory: dead slots still make room without allocating. */
        if (q->cap - q->tail + dead < n) return -1;
        seq_compact(q);
        return 0;
    }
    q->slots = p;
    q->cap = new_cap;
    return 0;
}

/* Room for one more slot at the tail. */
static int seq_reserve(trial *t, sequence *q) { return seq_reserve_n(t, q, 1); }

/* 1 when a slot of the sequence, live or tombstone, has this arrival number (numbers are unique
 * along a sequence, tombstones included: they still order it). */
static int seq_has_ticket(const sequence *q, uint64_t ticket) {
    size_t i = seq_lower_bound(q, ticket);
    return i < q->tail && slot_ticket(q->slots[i]) == ticket;
}

/* Drop the tombstone holding this arrival number, if there is one, as a compaction would. Used
 * before a number is checked against the other list, so that the answer depends on the users,
 * not on whether that list was compacted since one of them left. Trimming keeps tombstones off
 * both ends, so the slot dropped is inside and the sequence stays in order. */
static void seq_drop_tombstone(sequence *q, uint64_t ticket) {
    size_t i = seq_lower_bound(q, ticket);
    if (i >= q->tail || slot_is_live(q->slots[i]) || slot_ticket(q->slots[i]) != ticket) return;
    memmove(q->slots + i, q->slots + i + 1, (q->tail - i - 1) * sizeof(slot));
    q->tail--;
}

static uint64_t seq_last_ticket(const sequence *q) {
    return q->tail > q->head ? slot_ticket(q->slots[q->tail - 1]) : 0;
}

/* First slot index in [head, tail) whose arrival number is >= ticket (tail when there is none).
 *
 * Arrival numbers grow along the sequence and mostly by one (gaps come from users who went to the
 * other list or left before a compaction), so the first probes interpolate: where the ticket would
 * be if the numbers were spread evenly between the ends of the range. In a sequence without gaps
 * that finds the slot at once; a few steps are allowed before plain bisection takes over, which
 * keeps the worst case O(log N). (Bisection alone costs ~20 probes at 1M users, each a cache miss:
 * ENROLL.CANCEL's time and instructions grew with the trial because of it, bench/scaling.sh.) */
#define INTERPOLATION_STEPS 3
static size_t seq_lower_bound(const sequence *q, uint64_t ticket) {
    size_t lo = q->head, hi = q->tail; /* slots before lo are below ticket, from hi on not */
    for (int step = 0; step < INTERPOLATION_STEPS && hi - lo > 2; step++) {
        uint64_t first = slot_ticket(q->slots[lo]), last = slot_ticket(q->slots[hi - 1]);
        if (ticket <= first) return lo;
        if (ticket > last) return hi;
        size_t mid = lo + (size_t)((double)(ticket - first) / (double)(last - first) * (double)(hi - 1 - lo));
        if (mid >= hi) mid = hi - 1;
        uint64_t at = slot_ticket(q->slots[mid]);
        if (at == ticket) return mid; /* arrival numbers are distinct */
        if (at < ticket) lo = mid + 1;
        else hi = mid;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slot_ticket(q->slots[mid]) < ticket)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Insert in arrival order (room reserved). Appends in the common case. */
static void seq_insert(sequence *q, entry *e) {
    size_t at = q->tail;
    if (q->tail > q->head && seq_last_ticket(q) > e->ticket) {
        at = seq_lower_bound(q, e->ticket);
        memmove(q->slots + at + 1, q->slots + at, (q->tail - at) * sizeof(slot));
    }
    q->slots[at] = (slot)e;
    q->tail++;
    q->live++;
}

/* Turn the slot at `i` into a tombstone and trim dead slots at both ends. */
static void seq_remove_at(trial *t, sequence *q, size_t i) {
    q->slots[i] = tombstone(slot_entry(q->slots[i])->ticket);
    q->live--;
    while (q->head < q->tail && !slot_is_live(q->slots[q->head])) q->head++;
    while (q->tail > q->head && !slot_is_live(q->slots[q->tail - 1])) q->tail--;
    if (q->live == 0) q->head = q->tail = 0;
    size_t dead = seq_used(q) - q->live;
    if (dead > 16 && dead > q->live) seq_compact(q);
    seq_maybe_shrink(t, q);
}

static size_t seq_find(const sequence *q, const entry *e) {
    size_t i = seq_lower_bound(q, e->ticket);
    return i; /* the entry is in the sequence, so this is its slot */
}

static entry *seq_pop_front(trial *t, sequence *q) {
    entry *e = slot_entry(q->slots[q->head]); /* head is always live when live > 0 */
    seq_remove_at(t, q, q->head);
    return e;
}

static void seq_free(trial *t, sequence *q, int free_entries) {
    if (free_entries)
        for (size_t i = q->head; i < q->tail; i++)
            if (slot_is_live(q->slots[i])) entry_free(t, slot_entry(q->slots[i]));
    tracked_free(t, q->slots, q->cap * sizeof(slot));
    memset(q, 0, sizeof(*q));
}

/* ---- lifecycle ------------------------------------------------------------------------------- */
trial *trial_create(uint64_t capacity, uint64_t waitlist_max) {
    if (capacity > TRIAL_MAX_CAPACITY || waitlist_max > TRIAL_MAX_CAPACITY) return NULL;
    trial *t = core_alloc(sizeof(*t));
    if (t == NULL) return NULL;
    memset(t, 0, sizeof(*t));
    t->capacity = capacity;
    t->waitlist_max = waitlist_max;
    t->next_ticket = 1;
    return t;
}

void trial_free(trial *t) {
    if (t == NULL) return;
    seq_free(t, &t->enrolled, 1);
    seq_free(t, &t->waitlist, 1);
    table_free(t, &t->index);
    table_free(t, &t->old);
    core_free(t);
}

/* Add a new user at the end of one list. The user must be absent and valid. */
static entry *add_user(trial *t, sequence *q, const char *user, size_t len, uint64_t ticket, uint8_t state,
                       uint64_t h) {
    if (index_reserve(t) != 0 || seq_reserve(t, q) != 0) return NULL;
    entry *e = entry_new(t, user, len, ticket, state);
    if (e == NULL) return NULL;
    table_place(&t->index, e, h);
    seq_insert(q, e);
    return e;
}

/* Enroll waitlisted users, head first, while there is a free slot. All or nothing: -1 (and no
 * change) when the enrolled sequence cannot make room. */
static int promote_while_room(trial *t, uint64_t *promoted) {
    uint64_t room = trial_remaining(t);
    uint64_t n = t->waitlist.live < room ? t->waitlist.live : room;
    if (n > 0 && seq_reserve_n(t, &t->enrolled, (size_t)n) != 0) return -1;
    if (promoted) *promoted = n;
    for (uint64_t i = 0; i < n; i++) {
        entry *e = seq_pop_front(t, &t->waitlist);
        e->state = TRIAL_STATE_ENROLLED;
        seq_insert(&t->enrolled, e);
    }
    return 0;
}

static int copy_list(trial *dst, sequence *q, const sequence *src) {
    for (size_t i = src->head; i < src->tail; i++) {
        if (!slot_is_live(src->slots[i])) continue;
        const entry *e = slot_entry(src->slots[i]);
        if (!add_user(dst, q, e->id, e->len, e->ticket, e->state, hash_user(e->id, e->len))) return -1;
    }
    return 0;
}

trial *trial_copy(const trial *t) {
    trial *c = trial_create(t->capacity, t->waitlist_max);
    if (c == NULL) return NULL;
    c->next_ticket = t->next_ticket;
    if (copy_list(c, &c->enrolled, &t->enrolled) != 0 || copy_list(c, &c->waitlist, &t->waitlist) != 0) {
        trial_free(c);
        return NULL;
    }
    return c;
}

/* ---- commands -------------------------------------------------------------------------------- */
trial_enroll_result trial_enroll(trial *t, const char *user, size_t len, uint64_t *ticket) {
    if (!valid_user(len)) return TRIAL_ENROLL_BAD_USER;
    uint64_t h = hash_user(user, len);
    entry *found = index_find(t, user, len, h);
    if (found != NULL)
        return found->state == TRIAL_STATE_ENROLLED ? TRIAL_ENROLL_ALREADY_ENROLLED : TRIAL_ENROLL_ALREADY_WAITLISTED;

    sequence *q;
    uint8_t state;
    trial_enroll_result result;
    if (t->enrolled.live < t->capacity) { /* the waitlist is empty here (invariant) */
        q = &t->enrolled;
        state = TRIAL_STATE_ENROLLED;
        result = TRIAL_ENROLL_ENROLLED;
    } else if (t->waitlist.live < t->waitlist_max) {
        q = &t->waitlist;
        state = TRIAL_STATE_WAITLISTED;
        result = TRIAL_ENROLL_WAITLISTED;
    } else {
        return TRIAL_ENROLL_FULL;
    }
    if (t->next_ticket > MAX_TICKET) return TRIAL_ENROLL_FULL; /* 2^63 arrivals: unreachable */
    if (add_user(t, q, user, len, t->next_ticket, state, h) == NULL) return TRIAL_ENROLL_NO_MEMORY;
    if (ticket) *ticket = t->next_ticket;
    t->next_ticket++;
    return result;
}

trial_cancel_result trial_cancel(trial *t, const char *user, size_t len, uint64_t *promoted) {
    if (promoted) *promoted = 0;
    if (!valid_user(len)) return TRIAL_CANCEL_NOT_FOUND;
    uint64_t h = hash_user(user, len);
    entry *e = index_find(t, user, len, h);
    if (e == NULL) return TRIAL_CANCEL_NOT_FOUND;

    int was_enrolled = e->state == TRIAL_STATE_ENROLLED;
    sequence *q = was_enrolled ? &t->enrolled : &t->waitlist;
    seq_remove_at(t, q, seq_find(q, e));
    index_remove(t, e, h);
    entry_free(t, e);
    if (!was_enrolled) return TRIAL_CANCEL_LEFT_WAITLIST;
    /* Never fails: the slot just vacated can always be reused without allocating. */
    promote_while_room(t, promoted);
    return TRIAL_CANCEL_WITHDRAWN;
}

uint64_t trial_resize(trial *t, uint64_t capacity) {
    if (capacity > TRIAL_MAX_CAPACITY) capacity = TRIAL_MAX_CAPACITY;
    uint64_t old_capacity = t->capacity, promoted;
    t->capacity = capacity;
    if (promote_while_room(t, &promoted) != 0) {
        t->capacity = old_capacity;
        return TRIAL_RESIZE_NO_MEMORY;
    }
    return promoted;
}

trial_state trial_status(const trial *t, const char *user, size_t len, uint64_t *value) {
    if (value) *value = 0;
    if (!valid_user(len)) return TRIAL_STATE_NONE;
    const entry *e = index_find(t, user, len, hash_user(user, len));
    if (e == NULL) return TRIAL_STATE_NONE;
    if (e->state == TRIAL_STATE_ENROLLED) {
        if (value) *value = e->ticket;
        return TRIAL_STATE_ENROLLED;
    }
    const sequence *q = &t->waitlist;
    size_t at = seq_find(q, e);
    uint64_t position = 1;
    for (size_t i = q->head; i < at; i++) position += slot_is_live(q->slots[i]);
    if (value) *value = position;
    return TRIAL_STATE_WAITLISTED;
}

/* ---- reading --------------------------------------------------------------------------------- */
uint64_t trial_capacity(const trial *t) { return t->capacity; }
uint64_t trial_waitlist_max(const trial *t) { return t->waitlist_max; }
uint64_t trial_enrolled_count(const trial *t) { return t->enrolled.live; }
uint64_t trial_waitlisted_count(const trial *t) { return t->waitlist.live; }
uint64_t trial_next_ticket(const trial *t) { return t->next_ticket; }

uint64_t trial_remaining(const trial *t) {
    return t->enrolled.live < t->capacity ? t->capacity - t->enrolled.live : 0;
}

size_t trial_memory_usage(const trial *t) { return block_size((void *)t, sizeof(*t)) + t->bytes; }

int trial_foreach(const trial *t, trial_list list, trial_visit_fn visit, void *ctx) {
    const sequence *q = list == TRIAL_LIST_ENROLLED ? &t->enrolled : &t->waitlist;
    for (size_t i = q->head; i < q->tail; i++) {
        if (!slot_is_live(q->slots[i])) continue;
        const entry *e = slot_entry(q->slots[i]);
        if (visit(e->id, e->len, e->ticket, ctx)) return 1;
    }
    return 0;
}

uint64_t trial_scan(const trial *t, uint64_t cursor, size_t count, trial_visit_fn visit, void *ctx) {
    const sequence *q = &t->enrolled;
    size_t i = seq_lower_bound(q, cursor);
    size_t visited = 0;
    for (; i < q->tail; i++) {
        if (!slot_is_live(q->slots[i])) continue;
        if (visited == count) return slot_entry(q->slots[i])->ticket;
        const entry *e = slot_entry(q->slots[i]);
        visited++;
        if (visit && visit(e->id, e->len, e->ticket, ctx)) {
            /* The visitor stopped: resume after this user. */
            for (i++; i < q->tail; i++)
                if (slot_is_live(q->slots[i])) return slot_entry(q->slots[i])->ticket;
            return 0;
        }
    }
    return 0;
}

/* ---- rebuilding ------------------------------------------------------------------------------ */
trial_restore_result trial_restore(trial *t, trial_list list, size_t n, const uint64_t *tickets,
                                   const char *const *users, const size_t *lens, size_t *failed_at) {
    sequence *q = list == TRIAL_LIST_ENROLLED ? &t->enrolled : &t->waitlist;
    sequence *other = list == TRIAL_LIST_ENROLLED ? &t->waitlist : &t->enrolled;
    uint8_t state = list == TRIAL_LIST_ENROLLED ? TRIAL_STATE_ENROLLED : TRIAL_STATE_WAITLISTED;
    trial_restore_result result = TRIAL_RESTORE_OK;
    size_t done = 0;
    uint64_t last = seq_last_ticket(q);
    for (; done < n; done++) {
        uint64_t h = valid_user(lens[done]) ? hash_user(users[done], lens[done]) : 0;
        if (!valid_user(lens[done])) {
            result = TRIAL_RESTORE_BAD_USER;
        } else if (tickets[done] == 0 || tickets[done] > MAX_TICKET || tickets[done] <= last) {
            result = TRIAL_RESTORE_BAD_TICKET;
        } else if (index_find(t, users[done], lens[done], h) != NULL) {
            result = TRIAL_RESTORE_DUPLICATE;
        } else {
            seq_drop_tombstone(other, tickets[done]);
            if (seq_has_ticket(other, tickets[done])) result = TRIAL_RESTORE_BAD_TICKET; /* unique across both lists */
            else if (add_user(t, q, users[done], lens[done], tickets[done], state, h) == NULL)
                result = TRIAL_RESTORE_NO_MEMORY;
        }
        if (result != TRIAL_RESTORE_OK) break;
        last = tickets[done];
    }
    /* Users restored onto a waitlist while slots are free are promoted at once, keeping the
     * invariant that nobody waits while a slot is free. */
    if (result == TRIAL_RESTORE_OK && promote_while_room(t, NULL) != 0) {
        result = TRIAL_RESTORE_NO_MEMORY;
        if (failed_at) *failed_at = n > 0 ? n - 1 : 0;
    } else if (failed_at) {
        *failed_at = done;
    }
    if (result != TRIAL_RESTORE_OK) {
        /* Undo: the users added by this call are the last `done` slots of the list. */
        while (done-- > 0) {
            entry *e = slot_entry(q->slots[q->tail - 1]);
            index_remove(t, e, hash_user(e->id, e->len));
            seq_remove_at(t, q, q->tail - 1);
            entry_free(t, e);
        }
        return result;
    }
    if (last >= t->next_ticket) t->next_ticket = last + 1;
    return TRIAL_RESTORE_OK;
}

void trial_raise_next_ticket(trial *t, uint64_t next_ticket) {
    if (next_ticket > MAX_TICKET + 1) next_ticket = MAX_TICKET + 1;
    if (next_ticket > t->next_ticket) t->next_ticket = next_ticket;
}

/* ---- serialization --------------------------------------------------------------------------- */
typedef struct save_ctx {
    const trial_writer *w;
} save_ctx;

static int save_user(const char *user, size_t len, uint64_t ticket, void *ctx) {
    const trial_writer *w = ((save_ctx *)ctx)->w;
    w->write_u64(w->io, ticket);
    w->write_bytes(w->io, user, len);
    return 0;
}

void trial_save(const trial *t, const trial_writer *w) {
    save_ctx ctx = {w};
    w->write_u64(w->io, t->capacity);
    w->write_u64(w->io, t->waitlist_max);
    w->write_u64(w->io, t->next_ticket);
    w->write_u64(w->io, t->enrolled.live);
    trial_foreach(t, TRIAL_LIST_ENROLLED, save_user, &ctx);
    w->write_u64(w->io, t->waitlist.live);
    trial_foreach(t, TRIAL_LIST_WAITLIST, save_user, &ctx);
}

static int load_list(trial *t, const trial_reader *r, trial_list list) {
    uint64_t n;
    if (r->read_u64(r->io, &n) != 0) return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t ticket;
        char *user = NULL;
        size_t len = 0;
        if (r->read_u64(r->io, &ticket) != 0 || r->read_bytes(r->io, &user, &len) != 0) {
            if (user) core_free(user);
            return -1;
        }
        const char *users[1] = {user};
        trial_restore_result res = trial_restore(t, list, 1, &ticket, users, &len, NULL);
        core_free(user);
        if (res != TRIAL_RESTORE_OK) return -1;
    }
    return 0;
}

trial *trial_load(const trial_reader *r, int encoding_version) {
    if (encoding_version != TRIAL_ENCODING_VERSION) return NULL;
    uint64_t capacity, waitlist_max, next_ticket;
    if (r->read_u64(r->io, &capacity) != 0 || r->read_u64(r->io, &waitlist_max) != 0 ||
        r->read_u64(r->io, &next_ticket) != 0)
        return NULL;
    if (capacity > TRIAL_MAX_CAPACITY || waitlist_max > TRIAL_MAX_CAPACITY || next_ticket == 0 ||
        next_ticket > MAX_TICKET + 1)
        return NULL;
    trial *t = trial_create(capacity, waitlist_max);
    if (t == NULL) return NULL;
    t->next_ticket = next_ticket;
    /* The waitlist goes in only after every enrolled user: restoring it earlier could promote. */
    if (load_list(t, r, TRIAL_LIST_ENROLLED) != 0 || load_list(t, r, TRIAL_LIST_WAITLIST) != 0 ||
        t->next_ticket != next_ticket) {
        trial_free(t);
        return NULL;
    }
    return t;
}

/* ---- checking -------------------------------------------------------------------------------- */
static int check_sequence(const trial *t, const sequence *q, uint8_t state) {
    size_t live = 0;
    uint64_t last = 0;
    if (q->head > q->tail || q->tail > q->cap) return -1;
    for (size_t i = q->head; i < q->tail; i++) {
        uint64_t ticket = slot_ticket(q->slots[i]);
        if (ticket <= last || ticket >= t->next_ticket) return -2;
        last = ticket;
        if (!slot_is_live(q->slots[i])) continue;
        const entry *e = slot_entry(q->slots[i]);
        if (e->state != state || !valid_user(e->len)) return -3;
        if (index_find(t, e->id, e->len, hash_user(e->id, e->len)) != e) return -4;
        live++;
    }
    if (live != q->live) return -5;
    if (q->live > 0 && (!slot_is_live(q->slots[q->head]) || !slot_is_live(q->slots[q->tail - 1]))) return -6;
    return 0;
}

/* Every live slot of `index` records its distance from its home slot. */
static int check_distances(const index_table *ix) {
    size_t mask = ix->cap - 1;
    for (size_t i = 0; i < ix->cap; i++) {
        if (!tag_is_live(ix->tags[i])) continue;
        const entry *e = ix->entries[i];
        if (ix->dists[i] != dist_byte((i - (size_t)hash_user(e->id, e->len)) & mask)) return -1;
    }
    return 0;
}

int trial_check(const trial *t) {
    int rc;
    if ((rc = check_sequence(t, &t->enrolled, TRIAL_STATE_ENROLLED)) != 0) return rc;
    if ((rc = check_sequence(t, &t->waitlist, TRIAL_STATE_WAITLISTED)) != 0) return rc - 10;
    if (t->index.count + t->old.count != t->enrolled.live + t->waitlist.live) return -20;
    if (t->waitlist.live > 0 && t->enrolled.live < t->capacity) return -21;
    if (t->next_ticket == 0 || t->next_ticket > MAX_TICKET + 1) return -22;
    if (check_distances(&t->index) != 0) return -23;
    return 0;
}
