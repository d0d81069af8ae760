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

#include "storage/lmgr.h"
#include "utils/snapmgr.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"

static DenormTarget *Targets = NULL;

/* denorm_pending, where deferred counters' deltas go, and its schema */
static Oid	PendingTableRelid = InvalidOid;
static Oid	PendingTableRelidNsp = InvalidOid;

/* Sets *quoted (in TopMemoryContext) to the quoted name of a column, if it exists */
static void
RefreshColumnName(Oid relid, AttrNumber attnum, char **quoted)
{
	char	   *attname = get_attname(relid, attnum, true);

	if (attname == NULL)
		return;
	attname = MemoryContextStrdup(TopMemoryContext, quote_identifier(attname));
	if (*quoted)
		pfree(*quoted);
	*quoted = attname;
}

/* Fills the names, owner and column types of a target from the catalogs */
static void
RefreshTarget(DenormTarget *t)
{
	HeapTuple	tup;
	Form_pg_class classform;
	MemoryContext old;
	char	   *nspname;
	char	   *name;
	int			i;

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
	if (t->parent_sql)
		pfree(t->parent_sql);
	t->parent_sql = name;
	t->owner = classform->relowner;
	MemoryContextSwitchTo(old);
	ReleaseSysCache(tup);

	/*
	 * Column names as they are now (a rename changes them, never the
	 * attribute numbers).  A column that is gone keeps its last name: no
	 * counter uses it any more, so no delta names it.
	 */
	RefreshColumnName(t->parentrel, t->key_attnum, &t->key_sql);
	for (i = 0; i < t->ncolumns; i++)
	{
		RefreshColumnName(t->parentrel, t->attnums[i], &t->columns[i]);
		/* and their types: ALTER COLUMN ... TYPE may have widened one */
		DenormAttributeType(t->parentrel, t->attnums[i], &t->coltypes[i], &t->coltypmods[i]);
	}
	{
		int32		typmod;

		t->parentkeytype = InvalidOid;
		t->parentkeycoll = InvalidOid;
		if (SearchSysCacheExists2(ATTNUM, ObjectIdGetDatum(t->parentrel),
								  Int16GetDatum(t->key_attnum)))
			get_atttypetypmodcoll(t->parentrel, t->key_attnum, &t->parentkeytype, &typmod,
								  &t->parentkeycoll);
	}
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
	AttrNumber	key_attnum = get_attnum(parentrel, parent_key);

	if (key_attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("parent key column \"%s\" of table \"%s\" does not exist",
						parent_key, get_rel_name(parentrel)),
				 errhint("Drop the counter with denorm_drop_counter() and create it again.")));
	for (t = Targets; t != NULL; t = t->next)
	{
		if (t->parentrel == parentrel && t->keytype == keytype &&
			t->keycollation == keycollation && t->key_attnum == key_attnum)
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
	t->key_attnum = key_attnum;
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
	AttrNumber	attnum = get_attnum(target->parentrel, column);
	int			i;

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" used by denorm counter %d does not exist",
						column, get_rel_name(target->parentrel), counter_id),
				 errhint("Drop the counter with denorm_drop_counter(%d) and create it again.",
						 counter_id)));
	for (i = 0; i < target->ncolumns; i++)
	{
		if (target->attnums[i] == attnum)
			break;
	}
	if (i < target->ncolumns)
	{
		target->numeric[i] = numeric;
		target->deferred[i] = mode == 'd';
		target->commit[i] = mode == 'c';
		target->counter_ids[i] = counter_id;
		target->extreme[i] = 0;
		return i;
	}
	if (target->ncolumns >= DENORM_MAX_TARGET_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many denorm counters on table \"%s\"",
						get_rel_name(target->parentrel)),
				 errdetail("At most %d counter columns per parent table are supported.",
						   DENORM_MAX_TARGET_COLUMNS)));
	target->attnums[i] = attnum;
	DenormAttributeType(target->parentrel, attnum, &target->coltypes[i], &target->coltypmods[i]);
	target->columns[i] = MemoryContextStrdup(TopMemoryContext, quoted);
	target->numeric[i] = numeric;
	target->deferred[i] = mode == 'd';
	target->commit[i] = mode == 'c';
	target->counter_ids[i] = counter_id;
	target->extreme[i] = 0;
	target->ncolumns++;
	return i;
}

/*
 * DenormTargetSetExtreme makes column colidx of a target a min ('n') or
 * max ('x') over values of valtype, compared by the type's default btree
 * comparison under valcoll (the value column's collation).  Its entries
 * then carry extremes (pending.c), applied by ApplyExtremes.
 */
void
DenormTargetSetExtreme(DenormTarget *target, int colidx, char kind, Oid valtype, Oid valcoll)
{
	TypeCacheEntry *tce = lookup_type_cache(valtype, TYPECACHE_CMP_PROC_FINFO);

	if (!OidIsValid(tce->cmp_proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("value type %s of denorm counter %d has no btree ordering",
						format_type_be(valtype), target->counter_ids[colidx])));
	if (target->valcmps[colidx] == NULL)
		target->valcmps[colidx] = MemoryContextAlloc(TopMemoryContext, sizeof(FmgrInfo));
	fmgr_info_copy(target->valcmps[colidx], &tce->cmp_proc_finfo, TopMemoryContext);
	target->valtypes[colidx] = valtype;
	target->valcolls[colidx] = valcoll;
	get_typlenbyval(valtype, &target->vallens[colidx], &target->valbyvals[colidx]);
	target->extreme[colidx] = kind;
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
 * The UPDATE of one parent row for a target and column set:
 *   UPDATE parent SET c = COALESCE(c, 0) + $2, ... WHERE key = $1
 *      AND <c + $2 fits c's type> AND ...
 * A NULL counter counts as 0.  A row whose new value would not fit is left
 * alone (RowOverflow then tells why nothing was updated).  Every name and
 * operator is qualified.  Its plan is kept by DenormPrepare, per text: a
 * renamed parent makes a new one.  Fills in the parameter types and their
 * number.
 */
static char *
UpdateSql(DenormTarget *t, uint64 columns, uint64 numeric, Oid *argtypes, int *nargs)
{
	StringInfoData sql;
	StringInfoData fits;
	int			i;

	initStringInfo(&sql);
	initStringInfo(&fits);
	appendStringInfo(&sql, "UPDATE %s SET ", t->parent_sql);
	argtypes[0] = t->keytype;
	*nargs = 1;
	for (i = 0; i < t->ncolumns; i++)
	{
		char		param[16];

		if (!(columns & (UINT64CONST(1) << i)))
			continue;
		(*nargs)++;
		argtypes[*nargs - 1] = (numeric & (UINT64CONST(1) << i)) ? NUMERICOID : INT8OID;
		snprintf(param, sizeof(param), "$%d", *nargs);
		appendStringInfo(&sql,
						 "%s%s = COALESCE(%s, 0) OPERATOR(pg_catalog.+) %s",
						 *nargs > 2 ? ", " : "",
						 t->columns[i], t->columns[i], param);
		appendStringInfo(&fits, " AND %s",
						 DenormFitsSql(t->columns[i], param, argtypes[*nargs - 1] == NUMERICOID,
									   t->coltypes[i], t->coltypmods[i]));
	}
	appendStringInfo(&sql, " WHERE %s OPERATOR(pg_catalog.=) $1%s", t->key_sql, fits.data);
	return sql.data;
}

/*
 * Reports the counter of the first column that would not fit, with its key
 * and the value it would take (DenormOverflowError, which does not return).
 */
static void
ReportOverflow(DenormTarget *t, int colidx, const char *keytext, const char *value)
{
	char	   *column = get_attname(t->parentrel, t->attnums[colidx], true);
	char	   *keycol = get_attname(t->parentrel, t->key_attnum, true);

	DenormOverflowError(t->counter_ids[colidx], t->parentrel, column ? column : "?",
						keycol ? keycol : "?", keytext, value, false);
}

/*
 * An UPDATE of UpdateSql changed no row: either the parent has no row with
 * that key (the caller goes on as for a missing row) or a new value would
 * not fit its column.  The row is read and locked, as its latest version,
 * with the same parameters (and snapshot):
 *   SELECT NOT <c + $2 fits>, (c + $2)::text, ... FROM parent
 *    WHERE key = $1 FOR NO KEY UPDATE
 * and the first column that would not fit is reported.  Returns false when
 * there is no such row, true when it is there and every value fits now
 * (another transaction changed it in between, or a trigger of the parent's
 * left the row alone): the caller updates it once more, under the lock
 * taken here.
 */
static bool
RowOverflow(DenormTarget *t, uint64 columns, Oid *argtypes, int nargs, Datum *values,
			const char *nulls, Snapshot snap, Snapshot crosscheck)
{
	StringInfoData sql;
	int			i;
	int			arg = 1;
	int			field = 0;
	int			flagged[DENORM_MAX_TARGET_COLUMNS];
	HeapTuple	row;
	TupleDesc	desc;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (i = 0; i < t->ncolumns; i++)
	{
		char		param[16];

		if (!(columns & (UINT64CONST(1) << i)))
			continue;
		arg++;
		snprintf(param, sizeof(param), "$%d", arg);
		appendStringInfo(&sql, "%sNOT %s, %s", field > 0 ? ", " : "",
						 DenormFitsSql(t->columns[i], param, argtypes[arg - 1] == NUMERICOID,
									   t->coltypes[i], t->coltypmods[i]),
						 DenormNewValueSql(t->columns[i], param));
		flagged[field++] = i;
	}
	appendStringInfo(&sql, " FROM %s WHERE %s OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
					 t->parent_sql, t->key_sql);
	if (DenormExecAsChecked(t->owner, DENORM_PATH_SAFE, t->parentrel, sql.data, nargs, argtypes,
							values, nulls, snap, crosscheck, false, 0) == 0)
		return false;
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	for (i = 0; i < field; i++)
	{
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(row, desc, 2 * i + 1, &isnull)) && !isnull)
		{
			Oid			typoutput;
			bool		typisvarlena;

			getTypeOutputInfo(t->keytype, &typoutput, &typisvarlena);
			ReportOverflow(t, flagged[i], OidOutputFunctionCall(typoutput, values[0]),
						   SPI_getvalue(row, desc, 2 * i + 2));
		}
	}
	return true;
}

/*
 * Locks a target's parent as its UPDATE is about to, before the statement
 * is built from the target's names.  Commit-time deltas can wait for their
 * commit without any lock on the parent, and another session may rename
 * the parent, its counter columns or its key meanwhile: taking the lock
 * waits for that to commit and takes in what it changed, so the statement
 * names them as they are now.  False when the parent is gone (its counters
 * went with it).
 */
static bool
LockTarget(DenormTarget *t)
{
	LockRelationOid(t->parentrel, RowExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->parentrel)))
		return false;
	if (!t->valid)
		RefreshTarget(t);
	return true;
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

/* One parent row of a batch: where its entries start, how many, its columns */
typedef struct BatchRow
{
	int			start;
	int			n;
	uint64		columns;
	uint64		numeric;
} BatchRow;

/*
 * The relative UPDATE of one parent row for its immediate columns (entries
 * sorted by column), run as the owner of the parent table (as foreign-key
 * actions are), with row security bypassed for the owner, so child writers
 * need no rights on the parent; in snap (with crosscheck) when given.
 * Returns the rows updated (0 when the parent has no row with the key), or
 * -1 when the entries change no column here; a new value that would not
 * fit its column is an error (RowOverflow).
 */
static int64
UpdateRow(PendingEntry **entries, int n, Snapshot snap, Snapshot crosscheck)
{
	DenormTarget *t = entries[0]->k.target;
	uint64		columns = 0;
	uint64		numeric = 0;
	Datum		values[DENORM_MAX_TARGET_COLUMNS + 1];
	char		nulls[DENORM_MAX_TARGET_COLUMNS + 1];
	int			nvalues = 1;
	int			i;
	Oid			argtypes[DENORM_MAX_TARGET_COLUMNS + 1];
	int			nargs;
	char	   *sql;
	uint64		updated;

	values[0] = entries[0]->k.key;
	nulls[0] = ' ';
	/* entries are sorted by column, the order the plan's parameters use */
	for (i = 0; i < n; i++)
	{
		PendingEntry *e = entries[i];

		if (t->deferred[e->k.colidx] || t->extreme[e->k.colidx])
			continue;
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
	if (columns == 0 || !LockTarget(t))
		return -1;

	/*
	 * Prepared and run as the parent's owner (writers need no rights on
	 * its schema either), as a security-restricted operation (the parent's
	 * own triggers can leave no temporary objects behind), with the
	 * owner's own search path, settings restored afterwards whatever those
	 * triggers changed, and errors shown to the writer only as far as it
	 * may read the parent.
	 */
	sql = UpdateSql(t, columns, numeric, argtypes, &nargs);
	updated = DenormExecAsChecked(t->owner, DENORM_PATH_OWNER, t->parentrel, sql, nargs,
								  argtypes, values, nulls, snap, crosscheck, false,
								  DENORM_COUNTER_WRITE);
	/* none: no such row, or a value that would not fit (reported) */
	if (updated == 0 &&
		RowOverflow(t, columns, argtypes, nargs, values, nulls, snap, crosscheck))
		updated = DenormExecAsChecked(t->owner, DENORM_PATH_OWNER, t->parentrel, sql, nargs,
									  argtypes, values, nulls, snap, crosscheck, false,
									  DENORM_COUNTER_WRITE);
	return (int64) updated;
}

/* A key array of target t's key type */
static Datum
KeyArray(DenormTarget *t, Datum *keys, int n)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(t->keytype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(keys, n, t->keytype, typlen, typbyval, typalign));
}

/*
 * Commit-time deltas under a transaction snapshot (REPEATABLE READ and
 * SERIALIZABLE) go to the latest version of the parent row, not to the one
 * the snapshot sees.  An UPDATE in that snapshot meets every parent row
 * another transaction changed since it was taken (another writer's counter
 * delta, or the application's own UPDATE of the row) and fails with a
 * serialization error, although deltas commute: the increment is right on
 * top of any version.  So, as a READ COMMITTED update would after waiting,
 * the rows are first locked at their latest version (waiting for a
 * transaction that is changing one, following its update), then updated
 * under a snapshot taken after the locks were granted, which sees those
 * versions; nothing can change them in between.  This happens at commit,
 * once the transaction's own statements have run (or in denorm_apply(),
 * after which the transaction sees the rows it updated as they are now).
 * Immediate deltas keep the transaction snapshot: the statement that made
 * them must not see a newer parent row than the rest of it does.
 */
static bool
ApplyToLatest(void)
{
	return IsolationUsesXactSnapshot() && DenormInCommitApply();
}

/*
 * Locks the rows of t's parent with the given keys (as its owner finds
 * them in a new snapshot), in ascending key order, at their latest
 * versions, FOR NO KEY UPDATE as the UPDATE would.  A row deleted (or
 * given another key) meanwhile is not locked; the UPDATE then finds no row
 * for its key, as it would at READ COMMITTED.
 */
static void
LockLatestRows(DenormTarget *t, Datum *keys, int n)
{
	Oid			argtypes[1] = {get_array_type(t->keytype)};
	Datum		values[1] = {KeyArray(t, keys, n)};
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	uint64		nfound;
	uint64		i;
	Oid		   *relids;
	ItemPointerData *tids;

	nfound = DenormExecAs(t->owner, DENORM_PATH_OWNER, t->parentrel,
						  psprintf("SELECT p.tableoid, p.ctid FROM pg_catalog.unnest($1) AS d(k) "
								   "JOIN %1$s p ON p.%2$s OPERATOR(pg_catalog.=) d.k "
								   "ORDER BY p.%2$s",
								   t->parent_sql, t->key_sql),
						  1, argtypes, values, NULL, snap, true);
	relids = palloc(sizeof(Oid) * Max(nfound, 1));
	tids = palloc(sizeof(ItemPointerData) * Max(nfound, 1));
	for (i = 0; i < nfound; i++)
	{
		bool		isnull1;
		bool		isnull2;

		relids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1, &isnull1));
		tids[i] = *(ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 2, &isnull2));
		if (isnull1 || isnull2)
			relids[i] = InvalidOid;
	}
	for (i = 0; i < nfound; i++)
	{
		Relation	rel;
		TupleTableSlot *slot;
		TM_FailureData tmfd;

		if (!OidIsValid(relids[i]))
			continue;
		/* the UPDATE takes this lock on every partition anyway */
		rel = table_open(relids[i], RowExclusiveLock);
		if (rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_tableam != NULL)
		{
			slot = table_slot_create(rel, NULL);
			(void) table_tuple_lock(rel, &tids[i], snap, slot, GetCurrentCommandId(false),
									LockTupleNoKeyExclusive, LockWaitBlock,
									TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
			ExecDropSingleTupleTableSlot(slot);
		}
		table_close(rel, NoLock);
	}
	UnregisterSnapshot(snap);
}

/*
 * UpdateRow at the latest version of the row (see ApplyToLatest).
 */
static int64
UpdateLatestRow(PendingEntry **entries, int n)
{
	DenormTarget *t = entries[0]->k.target;
	Snapshot	snap;
	int64		updated;
	int			i;

	for (i = 0; i < n; i++)
		if (!t->deferred[entries[i]->k.colidx] && !t->extreme[entries[i]->k.colidx])
			break;
	if (i == n || !LockTarget(t))
		return -1;
	LockLatestRows(t, &entries[0]->k.key, 1);
	snap = RegisterSnapshot(GetLatestSnapshot());
	updated = UpdateRow(entries, n, snap, InvalidSnapshot);
	UnregisterSnapshot(snap);
	return updated;
}

/*
 * Parent rows a delta found missing (entries [rows[i].start, + rows[i].n)
 * for each i in missing, ascending by key): the key is locked against
 * parent rows taking it (keylock.c), and the row looked for again, with a
 * snapshot taken after the lock was granted.  A row that appeared
 * meanwhile (its transaction committed after the first look) gets the
 * delta; at REPEATABLE READ and above, where this transaction could not
 * have seen that row, that is a serialization failure instead, as
 * PostgreSQL's own foreign-key actions raise.  A key that still has no
 * row drops its delta: a row that takes the key later counts the children
 * itself (parent.c).
 */
static int
CompareHashes(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static void
ApplyMissing(PendingEntry **entries, BatchRow *rows, int *missing, int nmissing)
{
	DenormTarget *t = entries[rows[missing[0]].start]->k.target;
	int			i;

	uint32	   *hashes = palloc(sizeof(uint32) * nmissing);

	if (!t->valid)
		RefreshTarget(t);
	/* in ascending hash order, as parent rows' statements take them */
	for (i = 0; i < nmissing; i++)
		hashes[i] = DenormKeyLockHash(t->keytype, t->keycollation,
									  t->parentkeytype, t->parentkeycoll,
									  entries[rows[missing[i]].start]->k.key);
	qsort(hashes, nmissing, sizeof(uint32), CompareHashes);
	for (i = 0; i < nmissing; i++)
		if (i == 0 || hashes[i] != hashes[i - 1])
			DenormLockKey(t->parentrel, hashes[i], false);
	for (i = 0; i < nmissing; i++)
	{
		Snapshot	snap;
		Snapshot	crosscheck;

		if (ApplyToLatest())
		{
			(void) UpdateLatestRow(&entries[rows[missing[i]].start], rows[missing[i]].n);
			continue;
		}
		snap = RegisterSnapshot(GetLatestSnapshot());
		crosscheck = IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : InvalidSnapshot;
		(void) UpdateRow(&entries[rows[missing[i]].start], rows[missing[i]].n, snap, crosscheck);
		UnregisterSnapshot(snap);
	}
}

/*
 * What the children of key add up to for min/max counter counter_id: their
 * extreme value, read as the child's owner in snap (a snapshot taken after
 * the parent row was locked), NULL when none counts:
 *   SELECT min|max(x.value) FROM child x WHERE x.fk = $1 AND (filter)
 * The result is copied into the caller's memory context.
 */
static Datum
ChildExtreme(DenormTarget *t, int colidx, Datum key, Snapshot snap, bool *isnull)
{
	DenormRegistry r;
	DenormNames n;
	Oid			argtypes[1] = {t->keytype};
	Datum		values[1] = {key};
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result;

	if (!DenormReadRegistry(DenormPendingNamespace(), t->counter_ids[colidx], &r))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("denorm counter %d does not exist", t->counter_ids[colidx])));
	DenormResolveNames(DenormPendingNamespace(), &r, &n);
	if (DenormExecAs(DenormRelationOwner(r.child), DENORM_PATH_SAFE, r.child,
					 psprintf("SELECT %s FROM %s x WHERE x.%s OPERATOR(pg_catalog.=) $1 AND (%s)",
							  n.agg, n.child, n.fk, n.filter),
					 1, argtypes, values, NULL, snap, true) != 1)
		elog(ERROR, "denorm query returned no row");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (*isnull)
		return (Datum) 0;
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		result = datumCopy(result, t->valbyvals[colidx], t->vallens[colidx]);
		MemoryContextSwitchTo(old);
	}
	return result;
}

/*
 * Applies one parent row's min/max entries in snap (with crosscheck), as
 * the parent's owner.  The row is locked and its columns read first,
 *   SELECT c1, c2, ... FROM parent WHERE key = $1 FOR NO KEY UPDATE
 * then each column's new value worked out: when a value at least as
 * extreme as the stored one left (or nothing is stored), the extreme is
 * recomputed from the key's children (ChildExtreme) with a snapshot taken
 * now, after the lock was granted, so it sees every transaction that
 * committed before; else the stored value, or the best value added where
 * that beats it.  Columns that change are written,
 *   UPDATE parent SET c1 = $2, ... WHERE key = $1
 * The lock alone is what keeps concurrent writers exact: a transaction
 * that recomputes later waits for this one, and one that has written
 * children but not yet locked the row applies its own values after this.
 * Returns false when the parent has no row with the key.
 */
static bool
ExtremeRow(PendingEntry **entries, int n, Snapshot snap, Snapshot crosscheck)
{
	DenormTarget *t = entries[0]->k.target;
	StringInfoData sql;
	Datum		values[DENORM_MAX_TARGET_COLUMNS + 1];
	char		nulls[DENORM_MAX_TARGET_COLUMNS + 1];
	Oid			argtypes[DENORM_MAX_TARGET_COLUMNS + 1];
	Datum		stored[DENORM_MAX_TARGET_COLUMNS];
	bool		storednull[DENORM_MAX_TARGET_COLUMNS];
	PendingEntry *cols[DENORM_MAX_TARGET_COLUMNS];
	int			ncols = 0;
	int			nargs = 1;
	int			i;
	HeapTuple	row;
	TupleDesc	desc;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (i = 0; i < n; i++)
	{
		if (!t->extreme[entries[i]->k.colidx])
			continue;
		appendStringInfo(&sql, "%sp.%s", ncols > 0 ? ", " : "",
						 t->columns[entries[i]->k.colidx]);
		cols[ncols++] = entries[i];
	}
	appendStringInfo(&sql, " FROM %s p WHERE p.%s OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE OF p",
					 t->parent_sql, t->key_sql);
	argtypes[0] = t->keytype;
	values[0] = entries[0]->k.key;
	nulls[0] = ' ';
	if (DenormExecAsChecked(t->owner, DENORM_PATH_SAFE, t->parentrel, sql.data, 1, argtypes,
							values, nulls, snap, crosscheck, false, 0) == 0)
		return false;
	row = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	for (i = 0; i < ncols; i++)
		stored[i] = heap_getattr(row, i + 1, desc, &storednull[i]);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s SET ", t->parent_sql);
	for (i = 0; i < ncols; i++)
	{
		PendingEntry *e = cols[i];
		int			col = e->k.colidx;
		Datum		v = stored[i];
		bool		vnull = storednull[i];

		if (e->has_removed &&
			(storednull[i] || !DenormMoreExtreme(t, col, stored[i], e->best_removed)))
		{
			Snapshot	latest = RegisterSnapshot(GetLatestSnapshot());

			v = ChildExtreme(t, col, e->k.key, latest, &vnull);
			UnregisterSnapshot(latest);
		}
		else if (e->has_new && (vnull || DenormMoreExtreme(t, col, e->best_new, v)))
		{
			v = e->best_new;
			vnull = false;
		}
		/* unchanged: the lock is all it needs */
		if (vnull == storednull[i] &&
			(vnull || DatumGetInt32(FunctionCall2Coll(t->valcmps[col], t->valcolls[col],
													  v, stored[i])) == 0))
		{
			if (vnull || datumIsEqual(v, stored[i], t->valbyvals[col], t->vallens[col]))
				continue;
		}
		nargs++;
		argtypes[nargs - 1] = t->valtypes[col];
		values[nargs - 1] = v;
		nulls[nargs - 1] = vnull ? 'n' : ' ';
		appendStringInfo(&sql, "%s%s = $%d", nargs > 2 ? ", " : "", t->columns[col], nargs);
	}
	if (nargs == 1)
		return true;
	appendStringInfo(&sql, " WHERE %s OPERATOR(pg_catalog.=) $1", t->key_sql);
	(void) DenormExecAsChecked(t->owner, DENORM_PATH_OWNER, t->parentrel, sql.data, nargs,
							   argtypes, values, nulls, snap, crosscheck, false,
							   DENORM_COUNTER_WRITE);
	return true;
}

/*
 * Applies the min/max entries of one parent row (entries sorted by
 * column, all of one key), after its count and sum columns, under the
 * snapshot rules of those: the statement's own (its transaction snapshot
 * at REPEATABLE READ and above), or for commit-time entries there, the
 * row's latest version (ApplyToLatest).  A key without a row is locked
 * against parent rows taking it and looked for again, as ApplyMissing
 * does for deltas: a row committed meanwhile gets the values (at
 * REPEATABLE READ and above, a serialization failure instead), and a key
 * that still has none needs nothing (a row that takes it later starts
 * from its children's extreme, parent.c).
 */
static void
ApplyExtremes(PendingEntry **entries, int n)
{
	DenormTarget *t = entries[0]->k.target;
	Snapshot	snap = NULL;
	Snapshot	crosscheck = InvalidSnapshot;
	bool		found;
	int			i;

	for (i = 0; i < n; i++)
		if (t->extreme[entries[i]->k.colidx])
			break;
	if (i == n || !LockTarget(t))
		return;
	if (ApplyToLatest())
	{
		LockLatestRows(t, &entries[0]->k.key, 1);
		snap = RegisterSnapshot(GetLatestSnapshot());
	}
	found = ExtremeRow(entries, n, snap, InvalidSnapshot);
	if (snap != NULL)
		UnregisterSnapshot(snap);
	if (found)
		return;

	if (!t->valid)
		RefreshTarget(t);
	DenormLockKey(t->parentrel,
				  DenormKeyLockHash(t->keytype, t->keycollation, t->parentkeytype,
									t->parentkeycoll, entries[0]->k.key),
				  false);
	if (ApplyToLatest())
		LockLatestRows(t, &entries[0]->k.key, 1);
	else if (IsolationUsesXactSnapshot())
		crosscheck = GetTransactionSnapshot();
	snap = RegisterSnapshot(GetLatestSnapshot());
	(void) ExtremeRow(entries, n, snap, crosscheck);
	UnregisterSnapshot(snap);
}

/*
 * Applies one parent row's entries (sorted by column): immediate columns in
 * one UPDATE, deferred ones as rows of denorm_pending.
 */
static void
ApplyRow(PendingWriter *w, PendingEntry **entries, int n)
{
	DenormTarget *t = entries[0]->k.target;
	int			i;

	for (i = 0; i < n; i++)
		if (t->deferred[entries[i]->k.colidx])
			InsertPendingRow(w, t, entries[i]);
	if ((ApplyToLatest() ? UpdateLatestRow(entries, n) :
		 UpdateRow(entries, n, NULL, InvalidSnapshot)) == 0)
	{
		BatchRow	row = {0, n, 0, 0};
		int			missing = 0;

		ApplyMissing(entries, &row, &missing, 1);
	}
	ApplyExtremes(entries, n);
}

/* Rows of one target from which a statement's updates are made in sets */
#define APPLY_BATCH_MIN 8



/*
 * Applies many parent rows of one target (entries sorted by key, then
 * column) with a few set-based statements instead of one UPDATE per row:
 *   SELECT d.i FROM unnest($1::keytype[]) WITH ORDINALITY d(k, i)
 *     JOIN parent p ON p.key = d.k ORDER BY p.key FOR NO KEY UPDATE OF p
 * locks them all first, in ascending key order (the order per-row updates
 * take them in, so the two cannot deadlock), and tells which keys have no
 * row (see ApplyMissing); then, per set of columns the rows change,
 *   WITH u AS (UPDATE parent p SET c = COALESCE(p.c, 0) + d.c, ...
 *                FROM ROWS FROM (unnest($1::keytype[]), unnest($2::int8[] | numeric[]), ...) d(k, c, ...)
 *               WHERE p.key = d.k AND <p.c + d.c fits c's type> AND ... RETURNING 1)
 *   SELECT CASE WHEN (SELECT count(*) FROM u) < cardinality($1)
 *          THEN (SELECT ARRAY[p.key::text, <first column that would not fit>, <its value>]
 *                  FROM parent p, ROWS FROM (...) d(...)
 *                 WHERE p.key = d.k AND NOT (<fits> AND ...) ORDER BY p.key LIMIT 1) END
 * and a row found there is reported (DenormOverflowError).  The parent's
 * own row triggers and constraints run per row as before, as its owner.
 * Deferred columns go to denorm_pending entry by entry.
 */
static void
ApplyBatch(PendingWriter *w, PendingEntry **entries, BatchRow *rows, int nrows)
{
	DenormTarget *t = entries[rows[0].start]->k.target;
	Datum	   *keys = palloc(sizeof(Datum) * nrows);
	int		   *keyrow = palloc(sizeof(int) * nrows);
	bool	   *found = palloc0(sizeof(bool) * nrows);
	int		   *missing = palloc(sizeof(int) * nrows);
	int			nmissing = 0;
	Oid			keyarray = get_array_type(t->keytype);
	int			nkeys = 0;
	int			r;
	uint64		i;
	bool	   *done = palloc0(sizeof(bool) * nrows);
	Snapshot	snap = NULL;

	/* deferred columns, and the rows that update the parent at all */
	for (r = 0; r < nrows; r++)
	{
		int			i;

		for (i = rows[r].start; i < rows[r].start + rows[r].n; i++)
			if (t->deferred[entries[i]->k.colidx])
				InsertPendingRow(w, t, entries[i]);
		if (rows[r].columns != 0)
		{
			keyrow[nkeys] = r;
			keys[nkeys++] = entries[rows[r].start]->k.key;
		}
		else
			done[r] = true;
	}
	if (nkeys == 0 || !LockTarget(t))
		return;
	if (ApplyToLatest())
	{
		LockLatestRows(t, keys, nkeys);
		snap = RegisterSnapshot(GetLatestSnapshot());
	}

	{
		Oid			argtypes[1] = {keyarray};
		Datum		values[1] = {KeyArray(t, keys, nkeys)};
		uint64		nfound;

		nfound = DenormExecAs(t->owner, DENORM_PATH_OWNER, t->parentrel,
							  psprintf("SELECT d.i FROM pg_catalog.unnest($1) WITH ORDINALITY AS d(k, i) "
									   "JOIN %1$s p ON p.%2$s OPERATOR(pg_catalog.=) d.k "
									   "ORDER BY p.%2$s FOR NO KEY UPDATE OF p",
									   t->parent_sql, t->key_sql),
							  1, argtypes, values, NULL, snap, false);
		for (i = 0; i < nfound; i++)
		{
			bool		isnull;
			int64		k = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 1, &isnull));

			if (!isnull && k >= 1 && k <= nkeys)
				found[k - 1] = true;
		}
		/*
		 * Keys without a row are left to ApplyMissing alone: a row
		 * committed between this look and the UPDATE would otherwise get
		 * the delta from both.
		 */
		for (r = 0; r < nkeys; r++)
			if (!found[r])
			{
				missing[nmissing++] = keyrow[r];
				done[keyrow[r]] = true;
			}
	}

	/* one UPDATE per set of columns (and how their deltas are passed) */
	for (r = 0; r < nrows; r++)
	{
		uint64		columns = rows[r].columns;
		uint64		numeric = rows[r].numeric;
		Oid			argtypes[DENORM_MAX_TARGET_COLUMNS + 1];
		Datum		values[DENORM_MAX_TARGET_COLUMNS + 1];
		Datum	  **deltas = palloc0(sizeof(Datum *) * t->ncolumns);
		StringInfoData sets;
		StringInfoData from;
		StringInfoData fits;
		StringInfoData which;
		StringInfoData value;
		char	   *sql;
		int			nargs = 1;
		int			n = 0;
		int			c;
		int			q;

		if (done[r])
			continue;
		for (c = 0; c < t->ncolumns; c++)
			if (columns & (UINT64CONST(1) << c))
				deltas[c] = palloc(sizeof(Datum) * nrows);
		for (q = r; q < nrows; q++)
		{
			int			i;

			if (done[q] || rows[q].columns != columns || rows[q].numeric != numeric)
				continue;
			done[q] = true;
			keys[n] = entries[rows[q].start]->k.key;
			for (i = rows[q].start; i < rows[q].start + rows[q].n; i++)
			{
				PendingEntry *e = entries[i];

				if (t->deferred[e->k.colidx])
					continue;
				deltas[e->k.colidx][n] = (numeric & (UINT64CONST(1) << e->k.colidx)) ?
					DenormEntryNumeric(e) : Int64GetDatum(e->idelta);
			}
			n++;
		}

		initStringInfo(&sets);
		initStringInfo(&from);
		initStringInfo(&fits);
		initStringInfo(&which);
		initStringInfo(&value);
		appendStringInfoString(&from, "pg_catalog.unnest($1)");
		argtypes[0] = keyarray;
		values[0] = KeyArray(t, keys, n);
		for (c = 0; c < t->ncolumns; c++)
		{
			bool		isnum = (numeric & (UINT64CONST(1) << c)) != 0;
			char	   *col;
			char	   *delta;
			char	   *fit;

			if (!(columns & (UINT64CONST(1) << c)))
				continue;
			nargs++;
			argtypes[nargs - 1] = isnum ? NUMERICARRAYOID : INT8ARRAYOID;
			values[nargs - 1] = isnum ?
				PointerGetDatum(construct_array(deltas[c], n, NUMERICOID, -1, false, TYPALIGN_INT)) :
				PointerGetDatum(construct_array(deltas[c], n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			col = psprintf("p.%s", t->columns[c]);
			delta = psprintf("d.c%d", c);
			fit = DenormFitsSql(col, delta, isnum, t->coltypes[c], t->coltypmods[c]);
			appendStringInfo(&sets, "%s%s = COALESCE(%s, 0) OPERATOR(pg_catalog.+) %s",
							 nargs > 2 ? ", " : "", t->columns[c], col, delta);
			appendStringInfo(&from, ", pg_catalog.unnest($%d)", nargs);
			appendStringInfo(&fits, "%s%s", nargs > 2 ? " AND " : "", fit);
			appendStringInfo(&which, " WHEN NOT %s THEN %d", fit, c);
			appendStringInfo(&value, " WHEN NOT %s THEN %s", fit, DenormNewValueSql(col, delta));
		}
		appendStringInfoString(&from, ") AS d(k");
		for (c = 0; c < t->ncolumns; c++)
			if (columns & (UINT64CONST(1) << c))
				appendStringInfo(&from, ", c%d", c);
		appendStringInfoChar(&from, ')');

		/*
		 * Rows whose new values would not fit are left out of the UPDATE;
		 * when it changed fewer rows than it was given keys (keys without a
		 * row among them), the first such row is read in the same snapshot,
		 * as it was before the UPDATE (the rows are locked, so that is their
		 * latest version too).  The sub-select only runs then.
		 */
		sql = psprintf("WITH u AS (UPDATE %1$s p SET %2$s FROM ROWS FROM (%3$s"
					   " WHERE p.%4$s OPERATOR(pg_catalog.=) d.k AND %5$s RETURNING 1)"
					   " SELECT CASE WHEN (SELECT pg_catalog.count(*) FROM u) OPERATOR(pg_catalog.<) pg_catalog.cardinality($1)"
					   " THEN (SELECT ARRAY[p.%4$s::pg_catalog.text, (CASE%6$s END)::pg_catalog.text, CASE%7$s END]"
					   " FROM %1$s p, ROWS FROM (%3$s WHERE p.%4$s OPERATOR(pg_catalog.=) d.k AND NOT (%5$s)"
					   " ORDER BY p.%4$s LIMIT 1) END",
					   t->parent_sql, sets.data, from.data, t->key_sql, fits.data,
					   which.data, value.data);
		(void) DenormExecAsChecked(t->owner, DENORM_PATH_OWNER, t->parentrel, sql, nargs,
								   argtypes, values, NULL, snap, InvalidSnapshot, false,
								   DENORM_COUNTER_WRITE);
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		bad = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
			{
				Datum	   *fields;
				bool	   *fieldnulls;
				int			nfields;

				deconstruct_array(DatumGetArrayTypeP(bad), TEXTOID, -1, false, TYPALIGN_INT,
								  &fields, &fieldnulls, &nfields);
				ReportOverflow(t, pg_strtoint32(TextDatumGetCString(fields[1])),
							   TextDatumGetCString(fields[0]), TextDatumGetCString(fields[2]));
			}
		}
	}
	if (snap != NULL)
		UnregisterSnapshot(snap);
	if (nmissing > 0)
		ApplyMissing(entries, rows, missing, nmissing);
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
	BatchRow   *rows;
	int			nrows = 0;
	ListCell   *lc;
	int			n = 0;
	int			i;
	int			start;
	MemoryContext cxt;
	MemoryContext old;
	PendingWriter writer = {NULL, NULL, NULL};
	bool		extremes = false;

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
		/*
		 * A parent dropped since the delta was made (in this transaction,
		 * or by another one while commit-time deltas waited) took its
		 * counters with it.
		 */
		if (!e->k.target->valid &&
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(e->k.target->parentrel)))
			continue;
		/* copy out of PendingContext, which may be reset below */
		copy = palloc(sizeof(PendingEntry));
		memcpy(copy, e, sizeof(PendingEntry));
		copy->k.key = datumCopy(e->k.key, e->k.target->keybyval, e->k.target->keylen);
		if (e->ndelta != (Datum) 0)
			copy->ndelta = datumCopy(e->ndelta, false, -1);
		if (e->has_new)
			copy->best_new = datumCopy(e->best_new, e->k.target->valbyvals[e->k.colidx],
									   e->k.target->vallens[e->k.colidx]);
		if (e->has_removed)
			copy->best_removed = datumCopy(e->best_removed, e->k.target->valbyvals[e->k.colidx],
										   e->k.target->vallens[e->k.colidx]);
		entries[n++] = copy;
	}

	DenormPendingMaybeReset();

	if (n > 0)
	{
		if (n > 1)
			qsort(entries, n, sizeof(PendingEntry *), DenormComparePending);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rows = palloc(sizeof(BatchRow) * n);
		start = 0;
		for (i = 1; i <= n; i++)
		{
			int			j;

			if (i < n && entries[i]->k.target == entries[start]->k.target &&
				DatumGetInt32(FunctionCall2Coll(&entries[i]->k.target->cmpproc,
												entries[i]->k.target->keycollation,
												entries[i]->k.key,
												entries[start]->k.key)) == 0)
				continue;
			/* one parent row: entries [start, i) */
			rows[nrows].start = start;
			rows[nrows].n = i - start;
			rows[nrows].columns = 0;
			rows[nrows].numeric = 0;
			for (j = start; j < i; j++)
			{
				PendingEntry *e = entries[j];
				DenormTarget *t = e->k.target;

				if (t->extreme[e->k.colidx])
					extremes = true;
				if (t->deferred[e->k.colidx] || t->extreme[e->k.colidx])
					continue;
				rows[nrows].columns |= UINT64CONST(1) << e->k.colidx;
				if (t->numeric[e->k.colidx] || e->isnum)
					rows[nrows].numeric |= UINT64CONST(1) << e->k.colidx;
			}
			nrows++;
			start = i;
			/* the rows of one target: applied in sets when there are many */
			if (i == n || entries[i]->k.target != entries[rows[0].start]->k.target)
			{
				/* min/max columns are applied row by row (ApplyExtremes) */
				if (nrows >= APPLY_BATCH_MIN && !extremes)
					ApplyBatch(&writer, entries, rows, nrows);
				else
					for (j = 0; j < nrows; j++)
						ApplyRow(&writer, &entries[rows[j].start], rows[j].n);
				nrows = 0;
				extremes = false;
			}
		}
		ClosePendingWriter(&writer);
		SPI_finish();
	}

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

