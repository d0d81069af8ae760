/*-------------------------------------------------------------------------
 *
 * pending.c
 *	  The pending-delta set: what row triggers have recorded and not yet
 *	  applied (apply.c writes it to parent rows).
 *
 * Row triggers add each row's contribution here, keyed by subtransaction,
 * executor level, target, counter column and parent key, so a statement
 * touching a parent a thousand times leaves one entry per counter column.
 * At the end of the statement the entries of its own subtransaction and
 * level are taken out and applied (apply.c); a query nested inside the
 * statement finds in constant time that it has none.
 *
 * Counters in mode 'commit' (or any immediate counter while
 * denorm.apply_at_commit is on) keep their entries past the statement, at
 * LEVEL_COMMIT, for the whole transaction: the first such entry queues one
 * deferred constraint trigger event (a row in denorm_commit_queue), which
 * fires when the transaction commits (or at SET CONSTRAINTS ... IMMEDIATE,
 * or denorm_apply()) and applies them all in one global order, parent
 * table by parent table, key by key.  Parent rows are then locked only in
 * the last moments of the transaction and always in that order, so two
 * such transactions never wait on each other's parents in opposite orders.
 * Entries taken out inside a subtransaction (applied, or superseded by a
 * recompute) are kept at LEVEL_TAKEN under it, and come back as pending if
 * it rolls back.
 *
 * Memory: entries and their keys live in PendingContext, a child of
 * TopMemoryContext that is reset when the transaction ends; its size is
 * proportional to the number of distinct parents touched, never to rows.
 *
 *-------------------------------------------------------------------------
 */
#include "pending.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* Memory the pending set may keep between statements */
#define PENDING_CONTEXT_LIMIT (1024 * 1024)

static MemoryContext PendingContext = NULL;
static HTAB *PendingHash = NULL;
static long PendingCount = 0;

/*
 * How many entries each (subtransaction, executor level) holds, so that a
 * query nested inside a statement (a foreign-key check, a user trigger's
 * SQL), which has none of its own, finds that out in constant time instead
 * of scanning the whole set once per row of the statement.  Few pairs are
 * ever live at once: statements apply their own before they end.
 */
typedef struct LevelCount
{
	SubTransactionId subxid;
	int			level;
	long		count;
} LevelCount;

static LevelCount *Levels = NULL;
static int	NLevels = 0;
static int	MaxLevels = 0;

/* Adds delta to the entry count of (subxid, level) */
static void
CountEntries(SubTransactionId subxid, int level, long delta)
{
	int			i;

	for (i = 0; i < NLevels; i++)
	{
		if (Levels[i].subxid == subxid && Levels[i].level == level)
		{
			Levels[i].count += delta;
			if (Levels[i].count <= 0)
				Levels[i] = Levels[--NLevels];
			return;
		}
	}
	if (delta <= 0)
		return;
	if (NLevels == MaxLevels)
	{
		MaxLevels = MaxLevels == 0 ? 8 : MaxLevels * 2;
		Levels = Levels == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(LevelCount) * MaxLevels) :
			repalloc(Levels, sizeof(LevelCount) * MaxLevels);
	}
	Levels[NLevels].subxid = subxid;
	Levels[NLevels].level = level;
	Levels[NLevels].count = delta;
	NLevels++;
}

/* The number of entries (subxid, level) holds */
static long
EntriesAt(SubTransactionId subxid, int level)
{
	int			i;

	for (i = 0; i < NLevels; i++)
		if (Levels[i].subxid == subxid && Levels[i].level == level)
			return Levels[i].count;
	return 0;
}
/* Whether a commit-time apply is queued, and in which subtransaction */
static bool CommitQueued = false;
static SubTransactionId CommitQueuedSubxid = InvalidSubTransactionId;

/* Set while commit-time entries are applied (they may make more) */
static bool InCommitApply = false;


/* denorm_pending's schema: the extension's */
static Oid	PendingTableNsp = InvalidOid;

static void QueueCommitApply(void);

/* Hash of a pending key: the scalars combined with the key type's hash */
static uint32
PendingHashFn(const void *key, Size keysize)
{
	const PendingKey *k = (const PendingKey *) key;
	uint32		h;

	h = hash_bytes_uint32((uint32) k->subxid);
	h = hash_combine(h, hash_bytes_uint32((uint32) k->level));
	h = hash_combine(h, hash_bytes_uint32((uint32) (uintptr_t) k->target));
	h = hash_combine(h, hash_bytes_uint32((uint32) k->colidx));
	h = hash_combine(h, DatumGetUInt32(FunctionCall1Coll(&k->target->hashproc,
														  k->target->keycollation,
														  k->key)));
	return h;
}

static int
PendingMatchFn(const void *key1, const void *key2, Size keysize)
{
	const PendingKey *a = (const PendingKey *) key1;
	const PendingKey *b = (const PendingKey *) key2;

	if (a->subxid != b->subxid || a->level != b->level ||
		a->target != b->target || a->colidx != b->colidx)
		return 1;
	return DatumGetBool(FunctionCall2Coll(&a->target->eqproc,
										  a->target->keycollation,
										  a->key, b->key)) ? 0 : 1;
}

static void
EnsurePendingHash(void)
{
	HASHCTL		ctl;

	if (PendingHash != NULL)
		return;
	if (PendingContext == NULL)
		PendingContext = AllocSetContextCreate(TopMemoryContext,
											   "denorm pending deltas",
											   ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(PendingKey);
	ctl.entrysize = sizeof(PendingEntry);
	ctl.hash = PendingHashFn;
	ctl.match = PendingMatchFn;
	ctl.hcxt = PendingContext;
	PendingHash = hash_create("denorm pending deltas", 256, &ctl,
							  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
							  HASH_CONTEXT);
	PendingCount = 0;
	NLevels = 0;
}

/* Adds a numeric amount to an entry's numeric delta, in PendingContext */
static void
AddNumeric(PendingEntry *e, Datum amount)
{
	MemoryContext old = MemoryContextSwitchTo(PendingContext);
	Datum		sum;

	if (e->ndelta == (Datum) 0)
		sum = datumCopy(amount, false, -1);
	else
	{
		sum = DirectFunctionCall2(numeric_add, e->ndelta, amount);
		pfree(DatumGetPointer(e->ndelta));
	}
	e->ndelta = sum;
	MemoryContextSwitchTo(old);
}

/*
 * Whether a is strictly more extreme than b for a min/max column of t:
 * smaller for a min, larger for a max, by the value type's btree
 * comparison under the value column's collation.
 */
bool
DenormMoreExtreme(DenormTarget *t, int colidx, Datum a, Datum b)
{
	int32		c = DatumGetInt32(FunctionCall2Coll(t->valcmps[colidx], t->valcolls[colidx], a, b));

	return t->extreme[colidx] == 'n' ? c < 0 : c > 0;
}

/*
 * Folds one value into an extreme entry's best added (added) or best
 * removed value, keeping the more extreme one, copied into PendingContext
 * (the one it replaces is freed: memory stays bounded per entry).
 */
static void
FoldExtreme(PendingEntry *e, Datum value, bool added)
{
	DenormTarget *t = e->k.target;
	int			col = e->k.colidx;
	bool	   *has = added ? &e->has_new : &e->has_removed;
	Datum	   *best = added ? &e->best_new : &e->best_removed;
	MemoryContext old;

	if (*has && !DenormMoreExtreme(t, col, value, *best))
		return;
	old = MemoryContextSwitchTo(PendingContext);
	if (*has && !t->valbyvals[col])
		pfree(DatumGetPointer(*best));
	*best = datumCopy(value, t->valbyvals[col], t->vallens[col]);
	*has = true;
	MemoryContextSwitchTo(old);
}

/*
 * The pending-set key of a contribution made now: this subtransaction and
 * executor level, or LEVEL_COMMIT for a commit-time column (see
 * DenormAddDelta).
 */
static int
EntryLevel(DenormTarget *target, int colidx, bool allow_commit)
{
	/*
	 * Commit-time, unless no deferred event can be queued for it here (in a
	 * security-restricted operation, such as the parent update of another
	 * counter): then at the end of the statement, like an immediate one.
	 */
	if (allow_commit && !target->deferred[colidx] &&
		(target->commit[colidx] || DenormApplyAtCommit()) &&
		(CommitQueued || InCommitApply || !InSecurityRestrictedOperation()))
		return LEVEL_COMMIT;
	return DenormQueryLevel;
}

/*
 * The current subtransaction's entry of (target, column, key) at the level
 * a write now goes to, made empty (its key copied into PendingContext) when
 * there is none yet.
 */
static PendingEntry *
EnterEntry(DenormTarget *target, int colidx, Datum key, bool allow_commit)
{
	PendingKey	k;
	PendingEntry *e;
	bool		found;

	EnsurePendingHash();
	memset(&k, 0, sizeof(k));
	k.subxid = GetCurrentSubTransactionId();
	k.level = EntryLevel(target, colidx, allow_commit);
	k.target = target;
	k.colidx = colidx;
	k.key = key;

	e = (PendingEntry *) hash_search(PendingHash, &k, HASH_ENTER, &found);
	if (!found)
	{
		if (target->keybyval)
			e->k.key = key;
		else
		{
			MemoryContext old = MemoryContextSwitchTo(PendingContext);

			e->k.key = datumCopy(key, false, target->keylen);
			MemoryContextSwitchTo(old);
		}
		e->isnum = false;
		e->idelta = 0;
		e->ndelta = (Datum) 0;
		e->has_new = e->has_removed = false;
		e->best_new = e->best_removed = (Datum) 0;
		PendingCount++;
		CountEntries(k.subxid, k.level, 1);
		/*
		 * The commit-time apply is queued at the end of the statement
		 * (DenormApplyPending), not here: queuing can fire it at once
		 * (after SET CONSTRAINTS ALL IMMEDIATE), which would take this very
		 * entry out from under us.
		 */
	}
	return e;
}

/*
 * DenormAddExtreme folds one value of a min/max column into the pending
 * set: added (a row version entering the key's children) or removed (one
 * leaving).  key and value must be detoasted.
 */
void
DenormAddExtreme(DenormTarget *target, int colidx, Datum key, Datum value, bool added,
				 bool allow_commit)
{
	FoldExtreme(EnterEntry(target, colidx, key, allow_commit), value, added);
}

/*
 * DenormAddDelta folds one contribution into the pending set of the
 * current subtransaction.  key must be a detoasted value (it is hashed and
 * copied as is).  Integer deltas are summed in an int64 and move to a
 * numeric sum if that would overflow, so only a final delta out of range is
 * an error.  Numeric sums are replaced, never grown in place, so memory
 * stays bounded.
 */
void
DenormAddDelta(DenormTarget *target, int colidx, Datum key, bool numeric,
			   int64 idelta, Datum ndelta, bool allow_commit)
{
	PendingEntry *e = EnterEntry(target, colidx, key, allow_commit);

	if (!numeric && !e->isnum)
	{
		int64		sum;

		/* on overflow the result is garbage: keep the old value then */
		if (!pg_add_s64_overflow(e->idelta, idelta, &sum))
		{
			e->idelta = sum;
			return;
		}
	}

	/* numeric from here on for this entry */
	if (!e->isnum)
	{
		e->isnum = true;
		AddNumeric(e, NumericGetDatum(int64_to_numeric(e->idelta)));
		e->idelta = 0;
	}
	AddNumeric(e, numeric ? ndelta : NumericGetDatum(int64_to_numeric(idelta)));
}

bool
DenormHavePending(void)
{
	return PendingHash != NULL && PendingCount > 0;
}

/*
 * Folds entry m (a copy, outside the hash) into the hash under its key,
 * adding to the entry already there.
 */
static void
MergeEntry(PendingEntry *m)
{
	PendingEntry *e2;
	bool		found;

	e2 = (PendingEntry *) hash_search(PendingHash, &m->k, HASH_ENTER, &found);
	if (!found)
	{
		memcpy(e2, m, sizeof(PendingEntry));
		PendingCount++;
		CountEntries(m->k.subxid, m->k.level, 1);
		return;
	}
	if (m->k.target->extreme[m->k.colidx])
	{
		if (m->has_new)
			FoldExtreme(e2, m->best_new, true);
		if (m->has_removed)
			FoldExtreme(e2, m->best_removed, false);
		return;
	}
	if (!m->isnum && !e2->isnum)
	{
		int64		sum;

		if (!pg_add_s64_overflow(e2->idelta, m->idelta, &sum))
		{
			e2->idelta = sum;
			return;
		}
	}
	if (!e2->isnum)
	{
		e2->isnum = true;
		AddNumeric(e2, NumericGetDatum(int64_to_numeric(e2->idelta)));
		e2->idelta = 0;
	}
	AddNumeric(e2, m->isnum ? m->ndelta : NumericGetDatum(int64_to_numeric(m->idelta)));
}

/*
 * Takes the entries of one subtransaction (or, with subxid invalid, every
 * entry at level) out of the hash and returns copies of them, allocated in
 * PendingContext.
 */
static List *
TakeEntries(SubTransactionId subxid, int level)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *e;
	List	   *taken = NIL;
	MemoryContext old = MemoryContextSwitchTo(PendingContext);

	hash_seq_init(&seq, PendingHash);
	while ((e = (PendingEntry *) hash_seq_search(&seq)) != NULL)
	{
		PendingEntry *copy;

		if (subxid != InvalidSubTransactionId ? e->k.subxid != subxid : e->k.level != level)
			continue;
		copy = palloc(sizeof(PendingEntry));
		memcpy(copy, e, sizeof(PendingEntry));
		taken = lappend(taken, copy);
		CountEntries(e->k.subxid, e->k.level, -1);
		(void) hash_search(PendingHash, &e->k, HASH_REMOVE, NULL);
		PendingCount--;
	}
	MemoryContextSwitchTo(old);
	return taken;
}

/*
 * DenormDiscardPending drops the entries of a subtransaction that rolled
 * back (parent: the one it belonged to), or with all, everything
 * (transaction end).  What the subtransaction had taken out of the
 * commit-time set comes back into it, under the parent.
 */
void
DenormDiscardPending(SubTransactionId subxid, SubTransactionId parent, bool all)
{
	List	   *taken;
	ListCell   *lc;

	if (all)
	{
		CommitQueued = false;
		CommitQueuedSubxid = InvalidSubTransactionId;
	}
	else if (CommitQueuedSubxid == subxid)
	{
		/* the queued event rolled back with it */
		CommitQueued = false;
		CommitQueuedSubxid = InvalidSubTransactionId;
	}
	if (PendingHash == NULL)
		return;
	if (all)
	{
		/* the hash lives in PendingContext: drop both at once */
		PendingHash = NULL;
		PendingCount = 0;
		NLevels = 0;
		MemoryContextReset(PendingContext);
		return;
	}
	taken = TakeEntries(subxid, 0);
	foreach(lc, taken)
	{
		PendingEntry *m = (PendingEntry *) lfirst(lc);

		if (m->k.level != LEVEL_TAKEN)
			continue;
		m->k.subxid = parent;
		m->k.level = LEVEL_COMMIT;
		MergeEntry(m);
	}
}

/*
 * DenormReassignPending hands the entries of a committed subtransaction to
 * its parent, merging with what the parent already holds.  Statements apply
 * their own deltas before they end, so this is mostly given commit-time
 * entries.  What was taken out of the commit-time set is gone for good
 * once it reaches the top level.
 */
void
DenormReassignPending(SubTransactionId from, SubTransactionId to)
{
	List	   *moved;
	ListCell   *lc;

	if (CommitQueuedSubxid == from)
		CommitQueuedSubxid = to;
	if (!DenormHavePending())
		return;
	moved = TakeEntries(from, 0);
	foreach(lc, moved)
	{
		PendingEntry *m = (PendingEntry *) lfirst(lc);

		if (m->k.level == LEVEL_TAKEN && to == TopSubTransactionId)
			continue;
		m->k.subxid = to;
		MergeEntry(m);
	}
}

/* The queued commit-time apply has fired: later entries queue another */
void
DenormCommitEventFired(void)
{
	CommitQueued = false;
	CommitQueuedSubxid = InvalidSubTransactionId;
}

/* Whether any commit-time entry is waiting */
static bool
HaveCommitEntries(void)
{
	int			i;

	for (i = 0; i < NLevels; i++)
		if (Levels[i].level == LEVEL_COMMIT && Levels[i].count > 0)
			return true;
	return false;
}

/*
 * Queues the commit-time apply: one row in denorm_commit_queue, whose
 * deferred constraint trigger (denorm_commit_trigger) applies this
 * transaction's commit-time entries when it commits.  Written as the
 * table's owner: writers need no rights on it.
 */
static void
QueueCommitApply(void)
{
	Oid			queue;
	Oid			save_userid;
	int			save_sec_context;

	if (!OidIsValid(PendingTableNsp) ||
		!OidIsValid(queue = get_relname_relid("denorm_commit_queue", PendingTableNsp)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"denorm_commit_queue\" of extension denorm does not exist"),
				 errhint("Run ALTER EXTENSION denorm UPDATE.")));
	CommitQueued = true;
	CommitQueuedSubxid = GetCurrentSubTransactionId();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/*
		 * Not as a security-restricted operation, in which no deferred
		 * event may be queued: this runs no code but denorm's own (the
		 * table has no other trigger, and its owner is the extension's).
		 */
		GetUserIdAndSecContext(&save_userid, &save_sec_context);
		SetUserIdAndSecContext(DenormRelationOwner(queue),
							   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		if (SPI_execute(psprintf("INSERT INTO %s.denorm_commit_queue DEFAULT VALUES",
								 quote_identifier(get_namespace_name(PendingTableNsp))),
						false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not queue the commit-time apply of denorm counters");
		SetUserIdAndSecContext(save_userid, save_sec_context);
		SPI_finish();
	}
	PG_CATCH();
	{
		CommitQueued = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* Order: parent relation, target, key (btree order), column */
int
DenormComparePending(const void *a, const void *b)
{
	const PendingEntry *x = *(PendingEntry *const *) a;
	const PendingEntry *y = *(PendingEntry *const *) b;
	int32		c;

	if (x->k.target != y->k.target)
	{
		if (x->k.target->parentrel != y->k.target->parentrel)
			return x->k.target->parentrel < y->k.target->parentrel ? -1 : 1;
		return (uintptr_t) x->k.target < (uintptr_t) y->k.target ? -1 : 1;
	}
	c = DatumGetInt32(FunctionCall2Coll(&x->k.target->cmpproc,
										x->k.target->keycollation,
										x->k.key, y->k.key));
	if (c != 0)
		return c;
	return x->k.colidx - y->k.colidx;
}

bool
DenormEntryIsZero(PendingEntry *e)
{
	if (e->k.target->extreme[e->k.colidx])
		return !e->has_new && !e->has_removed;
	if (e->isnum)
		return e->ndelta == (Datum) 0 ||
			DatumGetBool(DirectFunctionCall2(numeric_eq, e->ndelta,
											 NumericGetDatum(int64_to_numeric(0))));
	return e->idelta == 0;
}

/* An entry's delta as the numeric a numeric column's plan takes */
Datum
DenormEntryNumeric(PendingEntry *e)
{
	return e->isnum ? e->ndelta : NumericGetDatum(int64_to_numeric(e->idelta));
}



/*
 * DenormSetPendingTable records the schema of denorm_pending and of
 * denorm_commit_queue: the schema of the extension's trigger functions.
 */
void
DenormSetPendingTable(Oid nspid)
{
	PendingTableNsp = nspid;
}

Oid
DenormPendingNamespace(void)
{
	return PendingTableNsp;
}

/*
 * The hash is kept from statement to statement; only the copied keys and
 * numeric deltas it frees into its context accumulate, so the context is
 * reset once that passes a threshold while nothing is pending.
 */
void
DenormPendingMaybeReset(void)
{
	if (PendingContext != NULL && PendingCount == 0 &&
		MemoryContextMemAllocated(PendingContext, true) > PENDING_CONTEXT_LIMIT)
		DenormDiscardPending(InvalidSubTransactionId, InvalidSubTransactionId, true);
}

/*
 * DenormApplyPending applies every pending entry of the current
 * subtransaction recorded at the current executor nesting level: a query
 * nested inside the statement (a foreign-key check, a user trigger's SQL)
 * must not apply the statement's deltas half-way, out of key order, and
 * finds out that it has none in constant time.  The entries are taken out
 * of the pending set before anything runs, so triggers fired by the parent
 * updates start with a clean set of their own.  Commit-time entries stay;
 * their apply is queued again if a rolled-back subtransaction took the
 * queued one with it.
 */
void
DenormApplyPending(void)
{
	SubTransactionId subxid = GetCurrentSubTransactionId();
	int			level = DenormQueryLevel;
	List	   *taken = NIL;
	HASH_SEQ_STATUS seq;
	PendingEntry *e;
	MemoryContext old;

	if (!DenormHavePending())
		return;
	if (!CommitQueued && !InCommitApply && !InSecurityRestrictedOperation() &&
		HaveCommitEntries())
		QueueCommitApply();
	/* constant time for the many nested queries that have none */
	if (EntriesAt(subxid, level) == 0)
		return;

	old = MemoryContextSwitchTo(PendingContext);
	hash_seq_init(&seq, PendingHash);
	while ((e = (PendingEntry *) hash_seq_search(&seq)) != NULL)
	{
		PendingEntry *copy;

		if (e->k.subxid != subxid || e->k.level != level)
			continue;
		copy = palloc(sizeof(PendingEntry));
		memcpy(copy, e, sizeof(PendingEntry));
		taken = lappend(taken, copy);
		CountEntries(subxid, level, -1);
		(void) hash_search(PendingHash, &e->k, HASH_REMOVE, NULL);
		PendingCount--;
	}
	MemoryContextSwitchTo(old);
	DenormApplyEntries(taken);
}

/*
 * Takes this transaction's commit-time entries of one counter (all with
 * counter_id 0) out of the pending set.  Inside a subtransaction, copies
 * stay behind at LEVEL_TAKEN, to come back if it rolls back.
 */
static List *
TakeCommitEntries(int32 counter_id)
{
	List	   *taken;
	List	   *result = NIL;
	ListCell   *lc;

	if (!DenormHavePending())
		return NIL;
	taken = TakeEntries(InvalidSubTransactionId, LEVEL_COMMIT);
	foreach(lc, taken)
	{
		PendingEntry *m = (PendingEntry *) lfirst(lc);

		if (counter_id != 0 && m->k.target->counter_ids[m->k.colidx] != counter_id)
		{
			MergeEntry(m);		/* another counter's: back it goes */
			continue;
		}
		result = lappend(result, m);
		if (GetCurrentTransactionNestLevel() > 1)
		{
			PendingEntry copy;

			memcpy(&copy, m, sizeof(PendingEntry));
			copy.k.subxid = GetCurrentSubTransactionId();
			copy.k.level = LEVEL_TAKEN;
			MergeEntry(&copy);
		}
	}
	return result;
}

/*
 * DenormApplyCommit applies this transaction's commit-time entries now, in
 * one global order: the deferred constraint trigger calls it at commit,
 * denorm_apply() when asked.
 */
void
DenormApplyCommit(void)
{
	bool		was = InCommitApply;

	/*
	 * Applying may make more (a counter whose child is this one's parent):
	 * those are applied too, in the same order, until none are left.
	 */
	InCommitApply = true;
	PG_TRY();
	{
		while (HaveCommitEntries())
			DenormApplyEntries(TakeCommitEntries(0));
	}
	PG_FINALLY();
	{
		InCommitApply = was;
	}
	PG_END_TRY();
}

/* Whether commit-time entries are being applied now */
bool
DenormInCommitApply(void)
{
	return InCommitApply;
}

/*
 * DenormForgetCounterPending drops this transaction's commit-time entries
 * of one counter: a recompute has set the counter from what its children
 * add up to, which includes them.
 */
void
DenormForgetCounterPending(int32 counter_id)
{
	(void) TakeCommitEntries(counter_id);
}

/*
 * DenormLocalDelta: what this transaction's entries of a counter not yet
 * applied (commit-time ones, and those of statements still running) will
 * add to the parent row whose key prints as keytext (numeric).
 */
Datum
DenormLocalDelta(int32 counter_id, const char *keytext)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *e;
	Datum		sum = NumericGetDatum(int64_to_numeric(0));

	if (!DenormHavePending())
		return sum;
	hash_seq_init(&seq, PendingHash);
	while ((e = (PendingEntry *) hash_seq_search(&seq)) != NULL)
	{
		Oid			typoutput;
		bool		typisvarlena;

		if (e->k.level == LEVEL_TAKEN || e->k.target->extreme[e->k.colidx] ||
			e->k.target->counter_ids[e->k.colidx] != counter_id)
			continue;
		getTypeOutputInfo(e->k.target->keytype, &typoutput, &typisvarlena);
		if (strcmp(OidOutputFunctionCall(typoutput, e->k.key), keytext) != 0)
			continue;
		sum = DirectFunctionCall2(numeric_add, sum, DenormEntryNumeric(e));
	}
	return sum;
}
