/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Writing pending deltas to parent rows, and the targets they go to.
 *
 * Entries taken out of the pending set (pending.c) are sorted by parent
 * relation and key and applied as one relative UPDATE per parent row
 * (col = col + delta), in ascending key order so that two statements never
 * lock the same parents in opposite orders, as the parent's owner (owner.c),
 * with one prepared plan per target and column set.  Deferred counters'
 * deltas are appended to denorm_pending instead.
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

static HTAB *PlanHash = NULL;
static DenormTarget *Targets = NULL;

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

/* denorm_pending, where deferred counters' deltas go, and its schema */
static Oid	PendingTableRelid = InvalidOid;
static Oid	PendingTableRelidNsp = InvalidOid;

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

	if (!OidIsValid(DenormPendingNamespace()))
		elog(ERROR, "denorm_pending table not located");
	if (!OidIsValid(PendingTableRelid) || PendingTableRelidNsp != DenormPendingNamespace())
	{
		PendingTableRelidNsp = DenormPendingNamespace();
		PendingTableRelid = get_relname_relid("denorm_pending", PendingTableRelidNsp);
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
	values[2] = DenormEntryNumeric(e);
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
			values[nvalues] = DenormEntryNumeric(e);
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
void
DenormApplyEntries(List *taken)
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

		if (DenormEntryIsZero(e))
			continue;
		/* copy out of PendingContext, which may be reset below */
		copy = palloc(sizeof(PendingEntry));
		memcpy(copy, e, sizeof(PendingEntry));
		copy->k.key = datumCopy(e->k.key, e->k.target->keybyval, e->k.target->keylen);
		if (e->ndelta != (Datum) 0)
			copy->ndelta = datumCopy(e->ndelta, false, -1);
		entries[n++] = copy;
	}

	DenormPendingMaybeReset();

	if (n > 0)
	{
		if (n > 1)
			qsort(entries, n, sizeof(PendingEntry *), DenormComparePending);

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

