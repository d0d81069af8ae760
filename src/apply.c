/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  The pending-delta set and its application to parent rows.
 *
 * Row triggers add each row's contribution here, keyed by subtransaction,
 * target, counter column and parent key, so a statement touching a parent
 * a thousand times leaves one entry per counter column.  At the end of the
 * statement the entries of the current subtransaction are sorted by parent
 * relation and key and applied as one relative UPDATE per parent row
 * (col = col + delta), in ascending key order so that two statements never
 * lock the same parents in opposite orders.
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
#include "denorm.h"

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

/* Levels of entries kept past their statement (statement levels are >= 0) */
#define LEVEL_COMMIT (-1)		/* applied when the transaction commits */
#define LEVEL_TAKEN (-2)		/* taken out inside the subtransaction */

typedef struct PendingKey
{
	SubTransactionId subxid;
	int			level;			/* executor nesting level that recorded it */
	DenormTarget *target;
	int			colidx;
	Datum		key;
} PendingKey;

typedef struct PendingEntry
{
	PendingKey	k;				/* hash key: must be first */
	bool		isnum;			/* the delta is in ndelta, not idelta */
	int64		idelta;
	Datum		ndelta;			/* numeric delta, or 0 while none */
} PendingEntry;

/* One prepared UPDATE per target and set of columns */
typedef struct PlanKey
{
	DenormTarget *target;
	uint64		columns;		/* bit i set: target column i is updated */
	uint64		numeric;		/* bit i set: its delta is passed as numeric */
} PlanKey;

typedef struct PlanEntry
{
	PlanKey		k;
	SPIPlanPtr	plan;
} PlanEntry;

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
static HTAB *PlanHash = NULL;
static DenormTarget *Targets = NULL;

/* denorm_pending, where deferred counters' deltas go */
static Oid	PendingTableNsp = InvalidOid;
static Oid	PendingTableRelid = InvalidOid;

/* Whether a commit-time apply is queued, and in which subtransaction */
static bool CommitQueued = false;
static SubTransactionId CommitQueuedSubxid = InvalidSubTransactionId;

/* Set while commit-time entries are applied (they may make more) */
static bool InCommitApply = false;

bool		denorm_apply_at_commit = false;

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

/* Drops the prepared UPDATEs of a target */
static void
ForgetPlans(DenormTarget *t)
{
	HASH_SEQ_STATUS seq;
	PlanEntry  *pe;

	if (PlanHash == NULL)
		return;
	hash_seq_init(&seq, PlanHash);
	while ((pe = (PlanEntry *) hash_seq_search(&seq)) != NULL)
	{
		if (pe->k.target != t)
			continue;
		/*
		 * The plan may be running further up the stack (a trigger on the
		 * parent can rename it mid-update), so it is left to leak rather
		 * than freed: renames are rare and plans small.
		 */
		(void) hash_search(PlanHash, &pe->k, HASH_REMOVE, NULL);
	}
}

/* Fills the names and owner of a target from the catalogs */
static void
RefreshTarget(DenormTarget *t)
{
	HeapTuple	tup;
	Form_pg_class classform;
	MemoryContext old;
	char	   *nspname;
	char	   *name;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(t->parentrel));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("parent table of a denorm counter no longer exists"),
				 errhint("Drop the counter with denorm_drop_counter().")));
	classform = (Form_pg_class) GETSTRUCT(tup);
	nspname = get_namespace_name(classform->relnamespace);
	old = MemoryContextSwitchTo(TopMemoryContext);
	name = quote_qualified_identifier(nspname, NameStr(classform->relname));
	if (t->parent_sql && strcmp(t->parent_sql, name) != 0)
		ForgetPlans(t);		/* their SQL names the table as it was */
	if (t->parent_sql)
		pfree(t->parent_sql);
	t->parent_sql = name;
	t->owner = classform->relowner;
	MemoryContextSwitchTo(old);
	ReleaseSysCache(tup);
	t->valid = true;
}

/*
 * DenormGetTarget finds or makes the target for a parent relation, key
 * column and key type.  The key type must have hash and btree support;
 * denorm_create_counter has checked that.
 */
DenormTarget *
DenormGetTarget(Oid parentrel, const char *parent_key, Oid keytype,
				Oid keycollation)
{
	DenormTarget *t;
	TypeCacheEntry *tce;
	MemoryContext old;

	for (t = Targets; t != NULL; t = t->next)
	{
		if (t->parentrel == parentrel && t->keytype == keytype &&
			t->keycollation == keycollation &&
			strcmp(t->key_sql, quote_identifier(parent_key)) == 0)
		{
			if (!t->valid)
				RefreshTarget(t);
			return t;
		}
	}

	tce = lookup_type_cache(keytype, TYPECACHE_HASH_PROC_FINFO |
							TYPECACHE_EQ_OPR_FINFO | TYPECACHE_CMP_PROC_FINFO);
	if (!OidIsValid(tce->hash_proc) || !OidIsValid(tce->eq_opr) ||
		!OidIsValid(tce->cmp_proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("foreign key type %s has no hash or btree support",
						format_type_be(keytype))));

	old = MemoryContextSwitchTo(TopMemoryContext);
	t = palloc0(sizeof(DenormTarget));
	t->parentrel = parentrel;
	t->keytype = keytype;
	t->keycollation = keycollation;
	t->key_sql = pstrdup(quote_identifier(parent_key));
	get_typlenbyval(keytype, &t->keylen, &t->keybyval);
	fmgr_info_copy(&t->hashproc, &tce->hash_proc_finfo, TopMemoryContext);
	fmgr_info_copy(&t->eqproc, &tce->eq_opr_finfo, TopMemoryContext);
	fmgr_info_copy(&t->cmpproc, &tce->cmp_proc_finfo, TopMemoryContext);
	MemoryContextSwitchTo(old);
	RefreshTarget(t);
	t->next = Targets;
	Targets = t;
	return t;
}

/*
 * DenormTargetColumn returns the index of a counter column in a target,
 * recording how its deltas are kept (numeric or not) and when they are
 * applied (mode 'i'mmediate, 'c'ommit or 'd'eferred).
 */
int
DenormTargetColumn(DenormTarget *target, const char *column, bool numeric,
				   char mode, int32 counter_id)
{
	const char *quoted = quote_identifier(column);
	int			i;

	for (i = 0; i < target->ncolumns; i++)
	{
		if (strcmp(target->columns[i], quoted) == 0)
			break;
	}
	if (i < target->ncolumns)
	{
		target->numeric[i] = numeric;
		target->deferred[i] = mode == 'd';
		target->commit[i] = mode == 'c';
		target->counter_ids[i] = counter_id;
		return i;
	}
	if (target->ncolumns >= DENORM_MAX_TARGET_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many denorm counters on table \"%s\"",
						get_rel_name(target->parentrel)),
				 errdetail("At most %d counter columns per parent table are supported.",
						   DENORM_MAX_TARGET_COLUMNS)));
	target->columns[i] = MemoryContextStrdup(TopMemoryContext, quoted);
	target->numeric[i] = numeric;
	target->deferred[i] = mode == 'd';
	target->commit[i] = mode == 'c';
	target->counter_ids[i] = counter_id;
	target->ncolumns++;
	return i;
}

/* A relation changed: names or owner of targets on it may be stale */
void
DenormInvalidateTargets(Oid relid)
{
	DenormTarget *t;

	if (relid == InvalidOid || relid == PendingTableRelid)
		PendingTableRelid = InvalidOid;

	for (t = Targets; t != NULL; t = t->next)
		if (relid == InvalidOid || t->parentrel == relid)
			t->valid = false;
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
	PendingKey	k;
	PendingEntry *e;
	bool		found;

	EnsurePendingHash();
	memset(&k, 0, sizeof(k));
	k.subxid = GetCurrentSubTransactionId();
	k.level = DenormQueryLevel;
	/*
	 * Commit-time, unless no deferred event can be queued for it here (in a
	 * security-restricted operation, such as the parent update of another
	 * counter): then at the end of the statement, like an immediate one.
	 */
	if (allow_commit && !target->deferred[colidx] &&
		(target->commit[colidx] || denorm_apply_at_commit) &&
		(CommitQueued || InCommitApply || !InSecurityRestrictedOperation()))
		k.level = LEVEL_COMMIT;
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
		PendingCount++;
		CountEntries(k.subxid, k.level, 1);
		if (k.level == LEVEL_COMMIT && !CommitQueued && !InCommitApply)
			QueueCommitApply();
	}

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
static int
ComparePending(const void *a, const void *b)
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

static bool
EntryIsZero(PendingEntry *e)
{
	if (e->isnum)
		return e->ndelta == (Datum) 0 ||
			DatumGetBool(DirectFunctionCall2(numeric_eq, e->ndelta,
											 NumericGetDatum(int64_to_numeric(0))));
	return e->idelta == 0;
}

/* An entry's delta as the numeric a numeric column's plan takes */
static Datum
EntryNumeric(PendingEntry *e)
{
	return e->isnum ? e->ndelta : NumericGetDatum(int64_to_numeric(e->idelta));
}



/*
 * Returns the prepared UPDATE for a target and column set, preparing it on
 * first use:
 *   UPDATE parent SET c = COALESCE(c, 0) + $2, ... WHERE key = $1
 * A NULL counter counts as 0.  Every name and operator is qualified.
 */
static SPIPlanPtr
GetUpdatePlan(DenormTarget *t, uint64 columns, uint64 numeric)
{
	PlanKey		pk;
	PlanEntry  *pe;
	bool		found;
	StringInfoData sql;
	Oid			argtypes[DENORM_MAX_TARGET_COLUMNS + 1];
	int			nargs = 1;
	int			i;
	SPIPlanPtr	plan;

	if (PlanHash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(PlanKey);
		ctl.entrysize = sizeof(PlanEntry);
		ctl.hcxt = TopMemoryContext;
		PlanHash = hash_create("denorm update plans", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&pk, 0, sizeof(pk));
	pk.target = t;
	pk.columns = columns;
	pk.numeric = numeric;
	pe = (PlanEntry *) hash_search(PlanHash, &pk, HASH_ENTER, &found);
	if (found && pe->plan != NULL)
		return pe->plan;
	pe->plan = NULL;

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s SET ", t->parent_sql);
	argtypes[0] = t->keytype;
	for (i = 0; i < t->ncolumns; i++)
	{
		if (!(columns & (UINT64CONST(1) << i)))
			continue;
		nargs++;
		argtypes[nargs - 1] = (numeric & (UINT64CONST(1) << i)) ? NUMERICOID : INT8OID;
		appendStringInfo(&sql,
						 "%s%s = COALESCE(%s, 0) OPERATOR(pg_catalog.+) $%d",
						 nargs > 2 ? ", " : "",
						 t->columns[i], t->columns[i], nargs);
	}
	appendStringInfo(&sql, " WHERE %s OPERATOR(pg_catalog.=) $1", t->key_sql);

	plan = SPI_prepare(sql.data, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql.data, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	pe->plan = plan;
	pfree(sql.data);
	return plan;
}

/*
 * DenormSetPendingTable records the schema of denorm_pending: the schema of
 * the extension's trigger functions.
 */
void
DenormSetPendingTable(Oid nspid)
{
	if (PendingTableNsp != nspid)
	{
		PendingTableNsp = nspid;
		PendingTableRelid = InvalidOid;
	}
}

/*
 * Where an apply writes deferred deltas: denorm_pending, opened on the
 * first deferred entry and kept open with its indexes until the apply ends.
 */
typedef struct PendingWriter
{
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
} PendingWriter;

static void
OpenPendingWriter(PendingWriter *w)
{
	int			i;

	if (!OidIsValid(PendingTableNsp))
		elog(ERROR, "denorm_pending table not located");
	if (!OidIsValid(PendingTableRelid))
	{
		PendingTableRelid = get_relname_relid("denorm_pending", PendingTableNsp);
		if (!OidIsValid(PendingTableRelid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table \"denorm_pending\" of extension denorm does not exist")));
	}
	w->rel = table_open(PendingTableRelid, RowExclusiveLock);
	if (RelationGetDescr(w->rel)->natts != 4)
		elog(ERROR, "denorm_pending has an unexpected shape");
	w->rri = makeNode(ResultRelInfo);
	w->rri->ri_RelationDesc = w->rel;
	ExecOpenIndices(w->rri, false);
	for (i = 0; i < w->rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = w->rri->ri_IndexRelationInfo[i];

		if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL ||
			ii->ii_ExclusionOps != NULL)
			elog(ERROR, "denorm_pending has an unexpected index");
	}
	w->slot = MakeSingleTupleTableSlot(RelationGetDescr(w->rel), &TTSOpsHeapTuple);
}

static void
ClosePendingWriter(PendingWriter *w)
{
	if (w->rel == NULL)
		return;
	ExecDropSingleTupleTableSlot(w->slot);
	ExecCloseIndices(w->rri);
	table_close(w->rel, NoLock);
	w->rel = NULL;
}

/*
 * Appends one deferred delta to denorm_pending: (counter id, key as text,
 * delta as numeric, transaction start time).  The row is written straight
 * into the heap and its indexes, without the executor: this is internal
 * bookkeeping of the extension, needing no rights of the writer, and its
 * cost is what makes deferred mode worth having.
 */
static void
InsertPendingRow(PendingWriter *w, DenormTarget *t, PendingEntry *e)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Oid			typoutput;
	bool		typisvarlena;
	HeapTuple	tup;
	int			i;

	if (w->rel == NULL)
		OpenPendingWriter(w);

	getTypeOutputInfo(t->keytype, &typoutput, &typisvarlena);
	values[0] = Int32GetDatum(t->counter_ids[e->k.colidx]);
	values[1] = CStringGetTextDatum(OidOutputFunctionCall(typoutput, e->k.key));
	values[2] = EntryNumeric(e);
	values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	tup = heap_form_tuple(RelationGetDescr(w->rel), values, nulls);
	simple_heap_insert(w->rel, tup);

	ExecStoreHeapTuple(tup, w->slot, false);
	for (i = 0; i < w->rri->ri_NumIndices; i++)
	{
		Datum		ivalues[INDEX_MAX_KEYS];
		bool		inulls[INDEX_MAX_KEYS];

		FormIndexDatum(w->rri->ri_IndexRelationInfo[i], w->slot, NULL,
					   ivalues, inulls);
		index_insert(w->rri->ri_IndexRelationDescs[i], ivalues, inulls,
					 &tup->t_self, w->rel, UNIQUE_CHECK_NO,
#if PG_VERSION_NUM >= 140000
					 false,
#endif
					 w->rri->ri_IndexRelationInfo[i]);
	}
	ExecClearTuple(w->slot);
	heap_freetuple(tup);
}

/*
 * Applies one parent row's entries (sorted by column): immediate columns in
 * one UPDATE, deferred ones as rows of denorm_pending.  The update runs as
 * the owner of the parent table (as foreign-key actions do), with row
 * security bypassed for the owner, so child writers need no rights on the
 * parent.
 */
static void
ApplyRow(PendingWriter *w, PendingEntry **entries, int n)
{
	DenormTarget *t = entries[0]->k.target;
	volatile uint64 columns = 0;
	volatile uint64 numeric = 0;
	Datum		values[DENORM_MAX_TARGET_COLUMNS + 1];
	char		nulls[DENORM_MAX_TARGET_COLUMNS + 1];
	int			nvalues = 1;
	int			i;
	SPIPlanPtr	plan;
	DenormOwnerState st;
	MemoryContext here = CurrentMemoryContext;
	Oid			viewer;
	int			rc;

	if (!t->valid)
		RefreshTarget(t);

	values[0] = entries[0]->k.key;
	nulls[0] = ' ';
	/* entries are sorted by column, the order the plan's parameters use */
	for (i = 0; i < n; i++)
	{
		PendingEntry *e = entries[i];

		if (t->deferred[e->k.colidx])
		{
			InsertPendingRow(w, t, e);
			continue;
		}
		columns |= UINT64CONST(1) << e->k.colidx;
		/*
		 * Integer deltas go as bigint; numeric ones, and integer deltas
		 * beyond bigint (the column may still take the result), as numeric.
		 */
		if (t->numeric[e->k.colidx] || e->isnum)
		{
			numeric |= UINT64CONST(1) << e->k.colidx;
			values[nvalues] = EntryNumeric(e);
		}
		else
			values[nvalues] = Int64GetDatum(e->idelta);
		nulls[nvalues] = ' ';
		nvalues++;
	}
	if (columns == 0)
		return;

	/*
	 * Prepared and run as the parent's owner (writers need no rights on
	 * its schema either), as a security-restricted operation (the parent's
	 * own triggers can leave no temporary objects behind), with the
	 * owner's own search path, settings restored afterwards whatever those
	 * triggers changed, and errors shown to the writer only as far as it
	 * may read the parent.
	 */
	viewer = GetUserId();
	DenormBecomeOwner(t->owner, DENORM_PATH_OWNER, &st);
	PG_TRY();
	{
		plan = GetUpdatePlan(t, columns, numeric);
		rc = SPI_execute_plan(plan, values, nulls, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "denorm parent update failed: %s", SPI_result_code_string(rc));
	}
	PG_CATCH();
	{
		DenormRethrowRedacted(here, viewer, t->parentrel);
	}
	PG_END_TRY();
	DenormRevertOwner(&st);
}

/*
 * Applies entries taken out of the pending set (keys and numeric deltas in
 * PendingContext), sorted by parent relation and key: one relative UPDATE
 * per parent row, deferred columns appended to denorm_pending.
 */
static void
ApplyEntries(List *taken)
{
	PendingEntry **entries;
	ListCell   *lc;
	int			n = 0;
	int			i;
	int			start;
	MemoryContext cxt;
	MemoryContext old;
	PendingWriter writer = {NULL, NULL, NULL};

	cxt = AllocSetContextCreate(CurrentMemoryContext, "denorm apply",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	entries = MemoryContextAllocHuge(cxt, sizeof(PendingEntry *) * Max(list_length(taken), 1));
	foreach(lc, taken)
	{
		PendingEntry *e = (PendingEntry *) lfirst(lc);
		PendingEntry *copy;

		if (EntryIsZero(e))
			continue;
		/* copy out of PendingContext, which may be reset below */
		copy = palloc(sizeof(PendingEntry));
		memcpy(copy, e, sizeof(PendingEntry));
		copy->k.key = datumCopy(e->k.key, e->k.target->keybyval, e->k.target->keylen);
		if (e->ndelta != (Datum) 0)
			copy->ndelta = datumCopy(e->ndelta, false, -1);
		entries[n++] = copy;
	}

	/*
	 * The hash is kept from statement to statement; only the copied keys
	 * and numeric deltas it frees into its context accumulate, so the
	 * context is reset once that passes a threshold.
	 */
	if (PendingCount == 0 &&
		MemoryContextMemAllocated(PendingContext, true) > PENDING_CONTEXT_LIMIT)
		DenormDiscardPending(InvalidSubTransactionId, InvalidSubTransactionId, true);

	if (n > 0)
	{
		if (n > 1)
			qsort(entries, n, sizeof(PendingEntry *), ComparePending);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		start = 0;
		for (i = 1; i <= n; i++)
		{
			if (i < n && entries[i]->k.target == entries[start]->k.target &&
				DatumGetInt32(FunctionCall2Coll(&entries[i]->k.target->cmpproc,
												entries[i]->k.target->keycollation,
												entries[i]->k.key,
												entries[start]->k.key)) == 0)
				continue;
			ApplyRow(&writer, &entries[start], i - start);
			start = i;
		}
		ClosePendingWriter(&writer);
		SPI_finish();
	}

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
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
	ApplyEntries(taken);
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
			ApplyEntries(TakeCommitEntries(0));
	}
	PG_FINALLY();
	{
		InCommitApply = was;
	}
	PG_END_TRY();
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
 * DenormLocalDelta: what this transaction's commit-time entries of a
 * counter add to the parent row whose key prints as keytext (numeric).
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

		if (e->k.level != LEVEL_COMMIT ||
			e->k.target->counter_ids[e->k.colidx] != counter_id)
			continue;
		getTypeOutputInfo(e->k.target->keytype, &typoutput, &typisvarlena);
		if (strcmp(OidOutputFunctionCall(typoutput, e->k.key), keytext) != 0)
			continue;
		sum = DirectFunctionCall2(numeric_add, sum, EntryNumeric(e));
	}
	return sum;
}
