/*-------------------------------------------------------------------------
 *
 * recompute.c
 *	  Setting a counter from what its children add up to: after TRUNCATE
 *	  and when partitions come and go.
 *
 * Children are read as the child's owner and parents written as the
 * parent's owner (owner.c), never as whoever causes the recompute, and
 * only while both are still tables.
 *
 * Counts and sums follow a table's rows coming or going as a correction
 * (DenormShiftRows).  A min or max takes no correction: rows that arrive
 * are candidates, applied as inserted rows are, and rows that leave are
 * noted while they are still there and applied as removals once they are
 * gone (see LeavingExtremes).
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "storage/lmgr.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"


/*
 * Before a recompute sets its parent rows outright: the first parent row
 * whose recomputed value (sums, from DenormChildSums) would not fit the
 * counter column is reported, not left to the cast's error.  The values are
 * checked here; only keys whose value would not fit are looked up, as the
 * parent's owner:
 *   SELECT p.key::text, a.v::text
 *     FROM parent p, ROWS FROM (unnest($1::fktype[]), unnest($2::numeric[])) a(k, v)
 *    WHERE p.key = a.k ORDER BY p.key LIMIT 1
 */
static void
CheckRecomputed(DenormRegistry *r, DenormNames *n, Datum *sums)
{
	Oid			coltype;
	int32		coltypmod;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *keys;
	Datum	   *amounts;
	bool	   *knulls;
	bool	   *anulls;
	int			nkeys;
	int			namounts;
	int			nbad = 0;
	int			i;
	Oid			argtypes[2];
	Datum		values[2];

	DenormColumnType(r->parent, r->counter_column, &coltype, &coltypmod);
	get_typlenbyvalalign(n->fktypid, &typlen, &typbyval, &typalign);
	deconstruct_array(DatumGetArrayTypeP(sums[0]), n->fktypid, typlen, typbyval, typalign,
					  &keys, &knulls, &nkeys);
	deconstruct_array(DatumGetArrayTypeP(sums[1]), NUMERICOID, -1, false, TYPALIGN_INT,
					  &amounts, &anulls, &namounts);
	for (i = 0; i < nkeys && i < namounts; i++)
	{
		if (anulls[i] || DenormNumericFits(amounts[i], coltype, coltypmod))
			continue;
		keys[nbad] = keys[i];
		amounts[nbad] = amounts[i];
		nbad++;
	}
	if (nbad == 0)
		return;

	argtypes[0] = get_array_type(n->fktypid);
	argtypes[1] = NUMERICARRAYOID;
	values[0] = PointerGetDatum(construct_array(keys, nbad, n->fktypid, typlen, typbyval, typalign));
	values[1] = PointerGetDatum(construct_array(amounts, nbad, NUMERICOID, -1, false, TYPALIGN_INT));
	if (DenormExecAs(DenormRelationOwner(r->parent), DENORM_PATH_SAFE, r->parent,
					 psprintf("SELECT p.%1$s::pg_catalog.text, a.v::pg_catalog.text FROM %2$s p, "
							  "ROWS FROM (pg_catalog.unnest($1::%3$s[]), pg_catalog.unnest($2::pg_catalog.numeric[])) AS a(k, v) "
							  "WHERE p.%1$s OPERATOR(pg_catalog.=) a.k ORDER BY p.%1$s LIMIT 1",
							  n->key, n->parent, n->fktype),
					 2, argtypes, values, NULL, NULL, true) == 1)
		DenormOverflowError(r->id, r->parent, r->counter_column, r->parent_key,
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
							true);
}

/*
 * DenormRecomputeCounter sets every parent row of a counter to the value
 * recomputed from its children (0 everywhere when emptied: the whole child
 * is being truncated; NULL for a min or max) and drops the counter's pending deltas.  Exact only
 * while no one else can write the child: its callers hold a lock that
 * keeps writers out of every table of the child's tree.
 *   DELETE FROM denorm_pending WHERE counter_id = $1      (its owner)
 *   <DenormChildSums over all keys>                       (the child's owner)
 *   <CheckRecomputed: a value that would not fit is an error>
 *   UPDATE parent p SET col = COALESCE(a.v, 0)
 *     FROM parent p2 LEFT JOIN unnest($1::fktype[], $2::numeric[]) a(k, v)
 *          ON a.k = p2.key
 *    WHERE p.key = p2.key AND p.col IS DISTINCT FROM COALESCE(a.v, 0)
 *                                                         (the parent's owner)
 */
void
DenormRecomputeCounter(Oid nsp, int32 id, DenormRegistry *r, bool emptied)
{
	DenormNames n;
	Oid			argtypes[2];
	Datum		values[2];
	char		nulls[2];
	Datum		sums[2];
	bool		sumnulls[2];
	Datum		range[4] = {0, 0, 0, 0};
	char		rangenulls[4] = {'n', 'n', 'n', 'n'};
	char	   *sql;

	DenormCheckAuthority(r, id);
	DenormResolveNames(nsp, r, &n);
	/* what the children add up to includes this transaction's own deltas */
	DenormForgetCounterPending(id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	argtypes[0] = INT4OID;
	values[0] = Int32GetDatum(id);
	(void) DenormExecAs(n.pending_owner, DENORM_PATH_SAFE, InvalidOid,
						psprintf("DELETE FROM %s WHERE counter_id OPERATOR(pg_catalog.=) $1", n.pending),
						1, argtypes, values, NULL, NULL, false);

	if (emptied)
		sumnulls[0] = sumnulls[1] = true;
	else
	{
		DenormChildSums(r, &n, range, rangenulls, NULL, sums, sumnulls, CurrentMemoryContext);
		if (!sumnulls[0] && !sumnulls[1] && !n.extreme)
			CheckRecomputed(r, &n, sums);
	}

	argtypes[0] = get_array_type(n.fktypid);
	argtypes[1] = n.extreme ? get_array_type(n.valtypid) : NUMERICARRAYOID;
	values[0] = sums[0];
	values[1] = sums[1];
	nulls[0] = sumnulls[0] ? 'n' : ' ';
	nulls[1] = sumnulls[1] ? 'n' : ' ';
	if (n.extreme)
		/* a min or max over no rows is NULL */
		sql = psprintf("UPDATE %1$s p SET %2$s = a.v "
					   "FROM %1$s p2 LEFT JOIN ROWS FROM (pg_catalog.unnest($1::%3$s[]), pg_catalog.unnest($2::%5$s[])) AS a(k, v) "
					   "ON a.k OPERATOR(pg_catalog.=) p2.%4$s "
					   "WHERE p.%4$s OPERATOR(pg_catalog.=) p2.%4$s "
					   "AND p.%2$s IS DISTINCT FROM a.v",
					   n.parent, n.col, n.fktype, n.key,
					   format_type_be_qualified(n.valtypid));
	else
		sql = psprintf("UPDATE %1$s p SET %2$s = COALESCE(a.v, 0) "
					   "FROM %1$s p2 LEFT JOIN ROWS FROM (pg_catalog.unnest($1::%3$s[]), pg_catalog.unnest($2::pg_catalog.numeric[])) AS a(k, v) "
					   "ON a.k OPERATOR(pg_catalog.=) p2.%4$s "
					   "WHERE p.%4$s OPERATOR(pg_catalog.=) p2.%4$s "
					   "AND p.%2$s IS DISTINCT FROM COALESCE(a.v, 0)",
					   n.parent, n.col, n.fktype, n.key);
	(void) DenormExecAsChecked(DenormRelationOwner(r->parent), DENORM_PATH_OWNER, r->parent, sql, 2,
							   argtypes, values, nulls, NULL, InvalidSnapshot, false,
							   DENORM_COUNTER_WRITE);
	SPI_finish();
}

/*
 * Extremes that rows leaving a min or max counter's tree took with them.
 * A truncated, dropped or detached table's rows leave without row
 * triggers, and a minimum or maximum cannot take a correction: when the
 * leaving rows held a parent's extreme, the new one is among the children
 * that remain, which can only be read once the rows are gone.  So, while
 * the rows are still there (BEFORE TRUNCATE; DROP TABLE or DETACH
 * PARTITION when it starts, under the locks it is about to take), the
 * distinct keys of the table's counted rows are noted with the extreme of
 * their values; once the rows are gone (AFTER TRUNCATE,
 * denorm_truncate_end_trigger; the end of the DROP or ALTER TABLE,
 * denorm_on_drop_end), each is applied as a deleted row's value is
 * (DenormAddExtreme, then apply.c's ExtremeRow): the parent row is locked,
 * and when the value removed is at least as extreme as the stored one the
 * key is recomputed from its remaining children with a snapshot taken
 * after the lock.  That keeps writers of the other tables exact: one that
 * locked the row first has committed before the recompute reads, one that
 * locks it later applies its own values on top.
 *
 * The alternative, computing before the command the extreme of the
 * children other than the leaving tables, would need to know every table
 * the command empties, which the TRUNCATE trigger firing on one of them
 * is not told (TRUNCATE a, b fires a's BEFORE trigger while b's rows are
 * still there); noting first and recomputing after needs no such list.
 *
 * Notes live in TopTransactionContext (keys and values copied there); a
 * rolled-back subtransaction takes its own with it, and a transaction that
 * would commit with notes left (the trigger that applies them did not
 * fire) is refused.
 */
typedef struct LeavingExtremes
{
	int32		counter_id;
	Oid			relid;			/* the table whose rows leave */
	char	   *relname;		/* its name, for the error if never applied */
	bool		truncated;		/* by TRUNCATE; else by DROP or DETACH */
	SubTransactionId subxid;
	int			nkeys;
	Datum	   *keys;			/* the parent keys (foreign key values) */
	Datum	   *values;			/* the extreme of each key's leaving rows */
} LeavingExtremes;

static List *Leaving = NIL;

/*
 * The pending-set target and column of min/max counter r, set up as its
 * row trigger sets them up (trigger.c), for values of its child's value
 * column under that column's collation.
 */
static DenormTarget *
ExtremeTarget(Oid nsp, DenormRegistry *r, DenormNames *n, int *colidx)
{
	Oid			type;
	int32		typmod;
	Oid			keycoll;
	Oid			valcoll;
	DenormTarget *target;

	get_atttypetypmodcoll(r->child, get_attnum(r->child, r->foreign_key),
						  &type, &typmod, &keycoll);
	DenormSetPendingTable(nsp);
	target = DenormGetTarget(r->parent, r->parent_key, n->fktypid, keycoll);
	*colidx = DenormTargetColumn(target, r->counter_column, false,
								 strcmp(r->mode, "commit") == 0 ? 'c' : 'i', r->id);
	get_atttypetypmodcoll(r->child, get_attnum(r->child, r->value_column),
						  &type, &typmod, &valcoll);
	DenormTargetSetExtreme(target, *colidx, n->extreme, type, valcoll);
	return target;
}

/*
 * DenormShiftRows for a min or max counter.  Rows arriving (sign +1, an
 * attached table) bring each key's extreme as a candidate, applied now as
 * an insert's value is.  Rows leaving (sign -1) are noted, to be applied
 * as removals once they are gone (see LeavingExtremes); truncated says by
 * which command.  The caller's lock keeps the table's rows as read here.
 *   SELECT x.fk, min|max(x.value) FROM [ONLY] tbl x
 *    WHERE x.fk IS NOT NULL AND (filter) GROUP BY 1       (the child's owner)
 */
static uint64
ShiftExtremes(Oid nsp, DenormRegistry *r, DenormNames *n, Oid relid, bool only,
			  int sign, bool truncated)
{
	DenormTarget *target;
	int			colidx;
	uint64		rows;
	uint64		i;
	LeavingExtremes *note = NULL;

	target = ExtremeTarget(nsp, r, n, &colidx);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rows = DenormExecAs(DenormRelationOwner(r->child), DENORM_PATH_SAFE, relid,
						psprintf("SELECT x.%1$s, %2$s FROM %3$s%4$s x "
								 "WHERE x.%1$s IS NOT NULL AND (%5$s) GROUP BY 1",
								 n->fk, n->agg, only ? "ONLY " : "",
								 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															get_rel_name(relid)),
								 n->filter),
						0, NULL, NULL, NULL, GetLatestSnapshot(), true);
	if (sign < 0 && rows > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		note = palloc(sizeof(LeavingExtremes));
		note->counter_id = r->id;
		note->relid = relid;
		note->relname = pstrdup(get_rel_name(relid));
		note->truncated = truncated;
		note->subxid = GetCurrentSubTransactionId();
		note->nkeys = 0;
		note->keys = palloc(sizeof(Datum) * rows);
		note->values = palloc(sizeof(Datum) * rows);
		MemoryContextSwitchTo(old);
	}
	for (i = 0; i < rows; i++)
	{
		bool		isnull;
		Datum		key = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		Datum		value = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);

		if (isnull)
			continue;			/* NULL values only: they count for nothing */
		if (!target->keybyval && target->keylen == -1)
			key = PointerGetDatum(PG_DETOAST_DATUM_PACKED(key));
		if (target->vallens[colidx] == -1)
			value = PointerGetDatum(PG_DETOAST_DATUM_PACKED(value));
		if (sign > 0)
			DenormAddExtreme(target, colidx, key, value, true, true);
		else
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			note->keys[note->nkeys] = datumCopy(key, target->keybyval, target->keylen);
			note->values[note->nkeys] = datumCopy(value, target->valbyvals[colidx],
												  target->vallens[colidx]);
			note->nkeys++;
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	if (sign > 0)
		DenormApplyPending();
	else if (note != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		Leaving = lappend(Leaving, note);
		MemoryContextSwitchTo(old);
	}
	return rows;
}

/*
 * Applies the notes of rows that have left (see LeavingExtremes): those of
 * TRUNCATE of table relid (truncated), or those of DROP and DETACH whose
 * table is no longer in its counter's tree (a note whose table is still
 * there belongs to a command that has not removed it yet, such as a DROP
 * during whose start another command ran).  Each key's extreme is applied
 * as a removal, in the counter's mode: now for an immediate counter, at
 * commit for one in mode 'commit'.  A counter dropped meanwhile (with its
 * parent, in the same DROP) is passed over.
 */
static void
ApplyLeaving(Oid nsp, bool truncated, Oid relid)
{
	List	   *todo = NIL;
	ListCell   *lc;
	bool		any = false;

	foreach(lc, Leaving)
	{
		LeavingExtremes *l = (LeavingExtremes *) lfirst(lc);
		DenormRegistry r;

		if (l->truncated != truncated)
			continue;
		if (truncated ? l->relid != relid :
			(DenormReadRegistry(nsp, l->counter_id, &r) && DenormInChildTree(l->relid, r.child)))
			continue;
		todo = lappend(todo, l);
		Leaving = foreach_delete_current(Leaving, lc);
	}
	foreach(lc, todo)
	{
		LeavingExtremes *l = (LeavingExtremes *) lfirst(lc);
		DenormRegistry r;
		DenormNames n;
		DenormTarget *target;
		int			colidx;
		int			i;

		if (!DenormReadRegistry(nsp, l->counter_id, &r))
			continue;
		DenormResolveNames(nsp, &r, &n);
		target = ExtremeTarget(nsp, &r, &n, &colidx);
		for (i = 0; i < l->nkeys; i++)
			DenormAddExtreme(target, colidx, l->keys[i], l->values[i], false, true);
		any = true;
	}
	if (any)
		DenormApplyPending();
}

/*
 * Subtransaction end: a rolled-back one takes its notes with it (the rows
 * did not leave), a committed one hands them to its parent.
 */
void
DenormLeavingSubXact(SubTransactionId subxid, SubTransactionId parent, bool commit)
{
	ListCell   *lc;

	foreach(lc, Leaving)
	{
		LeavingExtremes *l = (LeavingExtremes *) lfirst(lc);

		if (l->subxid != subxid)
			continue;
		if (commit)
			l->subxid = parent;
		else
			Leaving = foreach_delete_current(Leaving, lc);
	}
}

/*
 * Before commit: rows that left a min or max counter's tree and were never
 * applied (the trigger or event trigger that applies them did not run)
 * would leave extremes that no longer exist, so the commit is refused.
 */
void
DenormCheckLeaving(void)
{
	LeavingExtremes *l;

	if (Leaving == NIL)
		return;
	l = (LeavingExtremes *) linitial(Leaving);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("denorm counter %d was not recomputed after the rows of table \"%s\" left it",
					l->counter_id, l->relname),
			 errdetail("%s took the rows away, but the denorm trigger that recomputes a min or max once they are gone did not run.",
					   l->truncated ? "TRUNCATE" : "DROP TABLE or DETACH PARTITION"),
			 errhint("Check that the counter's triggers (see the denorm_status view) and denorm's event triggers are enabled, then run the command again.")));
}

/*
 * DenormShiftRows adds (sign +1) or takes away (sign -1) what the rows of
 * one table of a counter's tree add up to, as deltas in the counter's own
 * mode, applied like a statement's.  The caller holds a lock that keeps
 * every writer out of that table (it is being truncated, dropped, attached
 * or detached), so a snapshot taken now sees every row the table holds,
 * whatever the isolation level; and a correction, unlike setting the
 * parents outright, composes with what writers of the other tables do to
 * the same parents meanwhile.  A min or max goes to ShiftExtremes
 * (truncated: the rows leave by TRUNCATE, else by DROP or DETACH).
 * Returns how many keys it moved.
 *   SELECT x.fk, (agg)::numeric FROM [ONLY] tbl x
 *    WHERE x.fk IS NOT NULL AND (filter) GROUP BY 1         (the child's owner)
 */
static uint64
DenormShiftRows(Oid nsp, DenormRegistry *r, Oid relid, bool only, int sign, bool truncated)
{
	DenormNames n;
	DenormTarget *target;
	Oid			collation;
	int32		typmod;
	Oid			type;
	int			colidx;
	bool		numeric = false;
	char		mode = 'i';
	uint64		rows;
	uint64		i;
	void	   *fit;

	DenormResolveNames(nsp, r, &n);
	DenormCheckTable(relid, r->id, "child");
	if (n.extreme)
		return ShiftExtremes(nsp, r, &n, relid, only, sign, truncated);
	if (strcmp(r->aggregate, "sum") == 0)
		numeric = get_atttype(r->child, get_attnum(r->child, r->value_column)) == NUMERICOID;
	if (strcmp(r->mode, "deferred") == 0)
		mode = 'd';
	else if (strcmp(r->mode, "commit") == 0)
		mode = 'c';
	get_atttypetypmodcoll(r->child, get_attnum(r->child, r->foreign_key),
						  &type, &typmod, &collation);
	DenormSetPendingTable(nsp);
	target = DenormGetTarget(r->parent, r->parent_key, n.fktypid, collation);
	colidx = DenormTargetColumn(target, r->counter_column, numeric, mode, r->id);

	fit = mode == 'd' ? DenormKeyFitFor(r, n.fktypid) : NULL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rows = DenormExecAs(DenormRelationOwner(r->child), DENORM_PATH_SAFE, relid,
						psprintf("SELECT x.%1$s, (%2$s)::pg_catalog.numeric FROM %3$s%4$s x "
								 "WHERE x.%1$s IS NOT NULL AND (%5$s) GROUP BY 1",
								 n.fk, n.agg, only ? "ONLY " : "",
								 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															get_rel_name(relid)),
								 n.filter),
						0, NULL, NULL, NULL, GetLatestSnapshot(), true);
	for (i = 0; i < rows; i++)
	{
		bool		isnull;
		Datum		key = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		Datum		amount = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);

		if (isnull)
			continue;			/* a sum over NULL values only */
		if (!target->keybyval && target->keylen == -1)
			key = PointerGetDatum(PG_DETOAST_DATUM_PACKED(key));
		if (!DenormKeyFits(fit, key))
			continue;			/* counted for nothing when written */
		if (sign < 0)
			amount = DirectFunctionCall1(numeric_uminus, amount);
		DenormAddDelta(target, colidx, key, true, 0, amount, true);
	}
	SPI_finish();
	DenormApplyPending();
	return rows;
}

/*
 * Tables of a child tree whose rows a whole-child TRUNCATE has already
 * accounted for: (counter id, table) pairs, noted when the child's own
 * trigger sets the counter to 0, taken off as each table's trigger fires
 * in the same command (PostgreSQL fires the child's before its
 * partitions'), dropped at the end of the (sub)transaction.
 */
typedef struct EmptiedTable
{
	int32		counter_id;
	Oid			relid;
	SubTransactionId subxid;
} EmptiedTable;

static List *EmptiedTables = NIL;

static bool
TakeEmptied(int32 counter_id, Oid relid)
{
	ListCell   *lc;

	foreach(lc, EmptiedTables)
	{
		EmptiedTable *t = (EmptiedTable *) lfirst(lc);

		if (t->counter_id == counter_id && t->relid == relid)
		{
			EmptiedTables = foreach_delete_current(EmptiedTables, lc);
			return true;
		}
	}
	return false;
}

static void
NoteEmptied(int32 counter_id, Oid child)
{
	List	   *tables = find_all_inheritors(child, NoLock, NULL);
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	foreach(lc, tables)
	{
		EmptiedTable *t;

		if (lfirst_oid(lc) == child)
			continue;
		t = palloc(sizeof(EmptiedTable));
		t->counter_id = counter_id;
		t->relid = lfirst_oid(lc);
		t->subxid = GetCurrentSubTransactionId();
		EmptiedTables = lappend(EmptiedTables, t);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The notes belong to one TRUNCATE: those of partitions whose triggers had
 * fired before the root's (TRUNCATE p1, root) would otherwise stay and make
 * a later TRUNCATE of that partition skip its correction.  The utility hook
 * (denorm.c) takes them away when a TRUNCATE starts, and gives a TRUNCATE
 * run from inside another's triggers a list of its own.
 */
List *
DenormTakeEmptiedNotes(void)
{
	List	   *notes = EmptiedTables;

	EmptiedTables = NIL;
	return notes;
}

void
DenormRestoreEmptiedNotes(List *notes)
{
	EmptiedTables = notes;
}

/* A rolled-back subtransaction takes its notes with it */
void
DenormForgetEmptied(SubTransactionId subxid)
{
	ListCell   *lc;

	foreach(lc, EmptiedTables)
	{
		if (((EmptiedTable *) lfirst(lc))->subxid == subxid)
			EmptiedTables = foreach_delete_current(EmptiedTables, lc);
	}
}

PG_FUNCTION_INFO_V1(denorm_truncate_trigger);

/*
 * denorm_truncate_trigger: BEFORE TRUNCATE FOR EACH STATEMENT, on a
 * counted child and each of its partitions.  TRUNCATE removes rows without
 * row triggers; PostgreSQL has locked every table it empties before any
 * of these fire, so:
 *  - on the counter's child itself, every row of the tree goes: the
 *    counter is set to 0 (and its pending deltas dropped);
 *  - on a partition truncated on its own (or with only part of the tree),
 *    what its rows added up to is taken away from the parents, as a
 *    correction that composes with writers of the other partitions.
 * A trigger of 1.2 and before fires AFTER TRUNCATE; until ALTER EXTENSION
 * denorm UPDATE replaces it, the counter is recomputed from what remains.
 */
Datum
denorm_truncate_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	DenormRegistry r;
	int32		id;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			relid;
	List	   *ids;
	ListCell   *lc;
	bool		before;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger", "denorm_truncate_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	trigdata = (TriggerData *) fcinfo->context;
	before = TRIGGER_FIRED_BEFORE(trigdata->tg_event);
	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs > (before ? 0 : 1))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE TRUNCATE",
						"denorm_truncate_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	relid = RelationGetRelid(trigdata->tg_relation);
	if (trigdata->tg_trigger->tgnargs == 1)
		/* a trigger of 1.1 and before: for one counter */
		ids = list_make1_int(pg_strtoint32(trigdata->tg_trigger->tgargs[0]));
	else
	{
		/* every counter whose child is this table or one above it */
		List	   *tables = list_make1_oid(relid);

		if (get_rel_relispartition(relid))
			tables = list_concat(tables, get_partition_ancestors(relid));
		ids = DenormCountersOfChildren(nsp, tables);
	}

	/*
	 * With Citus, the rows of a distributed child are in its shards, and
	 * each shard's own trigger sets the parent rows of its co-located
	 * parent shard: the distributed table's trigger, on the coordinator,
	 * has nothing to do (and cannot know when the shards are emptied).
	 */
	if (ids != NIL && DenormCitusPresent() && DenormCitusKind(relid, NULL) == 'h')
		return PointerGetDatum(NULL);
	if (ids == NIL && trigdata->tg_trigger->tgnargs == 0 && DenormCitusPresent() &&
		OidIsValid(DenormCitusShardOf(relid, NULL)))
	{
		ids = DenormCitusCountersOfShard(nsp, relid, false);
		if (ids == NIL)
			DenormCitusUnregistered(relid, trigdata->tg_trigger->tgname);
		foreach(lc, ids)
		{
			id = lfirst_int(lc);
			if (!DenormCitusRegistry(nsp, id, relid, false, &r))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("trigger \"%s\" on table \"%s\" does not match denorm counter %d",
								trigdata->tg_trigger->tgname, get_rel_name(relid), id),
						 errdetail("denorm triggers act only as registered in denorm_counters.")));
			DenormRecomputeCounter(nsp, id, &r, true);
		}
		return PointerGetDatum(NULL);
	}
	foreach(lc, ids)
	{
		id = lfirst_int(lc);
		DenormCheckTrigger(nsp, id, relid, trigdata->tg_trigger->tgname, NULL, &r);
		if (!before)
			DenormRecomputeCounter(nsp, id, &r, false);
		else if (r.child == relid)
		{
			DenormRecomputeCounter(nsp, id, &r, true);
			NoteEmptied(id, relid);
		}
		else if (!TakeEmptied(id, relid) &&
				 get_rel_relkind(relid) == RELKIND_RELATION)
			(void) DenormShiftRows(nsp, &r, relid, true, -1, true);
	}
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(denorm_truncate_end_trigger);

/*
 * denorm_truncate_end_trigger: AFTER TRUNCATE FOR EACH STATEMENT, on each
 * table of a min or max counter's tree.  AFTER TRUNCATE triggers fire when
 * the command has emptied every table it names, while it still holds
 * their locks: the extremes the BEFORE trigger noted for this table (see
 * LeavingExtremes) are applied as removals, so parents whose extreme the
 * truncated rows held are recomputed from the children that remain.
 */
Datum
denorm_truncate_end_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger", "denorm_truncate_end_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER TRUNCATE",
						"denorm_truncate_end_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	ApplyLeaving(get_func_namespace(fcinfo->flinfo->fn_oid), true,
				 RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(denorm_recompute_counter);

/*
 * denorm_recompute_counter(counter_id integer) returns void
 *
 * Recomputes a counter; used by the event triggers when partitions come or
 * go.  The caller must have the rights of the owner of the counter's
 * parent or child: a recompute heals drift without logging it, which is
 * for the tables' owners (and the event triggers acting for them) to do.
 */
Datum
denorm_recompute_counter(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	DenormRegistry r;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);

	if (!DenormReadRegistry(nsp, id, &r))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("denorm counter %d does not exist", id)));
	if (!has_privs_of_role(GetUserId(), DenormRelationOwner(r.parent)) &&
		!has_privs_of_role(GetUserId(), DenormRelationOwner(r.child)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s or table %s to recompute denorm counter %d",
						get_rel_name(r.parent), get_rel_name(r.child), id)));
	DenormRecomputeCounter(nsp, id, &r, false);
	PG_RETURN_VOID();
}

/*
 * Tables an ALTER TABLE ... ATTACH PARTITION is attaching, noted when the
 * command starts (only those of a parent the role owns) and taken by
 * denorm_shift_attached() when it ends.  A failed ATTACH leaves a note
 * for a table that is not in the tree, which is passed over.
 */
static List *AttachingTables = NIL;

void
DenormForgetDroppedPartitions(void)
{
	EmptiedTables = NIL;		/* their cells lived in TopTransactionContext */
	AttachingTables = NIL;
	Leaving = NIL;
}

/*
 * Takes away from the counters above it what a partition that is leaving
 * its tree (dropped, or detached) adds up to (for a min or max, notes what
 * it takes, applied by denorm_on_drop_end when the command ends).  The lock DROP TABLE or
 * DETACH PARTITION is about to take is taken first, in the order they take
 * it (the partition's parent, then the partition), so no writer can change
 * the partition between the correction and its leaving; if the command
 * then fails, the correction rolls back with it.  Partitions the role does
 * not own are left alone (the command will fail), as are those whose
 * counter's own child goes in the same command (the counter goes with it)
 * and those below another partition the command removes (counted there).
 * "allowed" says whether the role may run the command on this partition.
 */
static void
ShiftLeavingPartition(Oid nsp, Oid relid, List *leaving, bool allowed, bool concurrent)
{
	List	   *ancestors;
	List	   *ids;
	ListCell   *lc;

	if (!allowed || !OidIsValid(relid) || !get_rel_relispartition(relid))
		return;
	ancestors = get_partition_ancestors(relid);
	foreach(lc, ancestors)
	{
		if (list_member_oid(leaving, lfirst_oid(lc)))
			return;
	}
	ids = DenormCountersOfChildren(nsp, ancestors);
	if (ids == NIL)
		return;
	if (concurrent)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot detach partition \"%s\" concurrently from a table counted by denorm counter %d",
						get_rel_name(relid), linitial_int(ids)),
				 errdetail("Rows leaving in two transactions cannot be taken off the counter exactly."),
				 errhint("Use DETACH PARTITION without CONCURRENTLY.")));
	LockRelationOid(linitial_oid(ancestors), AccessExclusiveLock);
	LockRelationOid(relid, AccessExclusiveLock);
	foreach(lc, ids)
	{
		DenormRegistry r;

		if (!DenormReadRegistry(nsp, lfirst_int(lc), &r) ||
			list_member_oid(leaving, r.child))
			continue;
		(void) DenormShiftRows(nsp, &r, relid, false, -1, false);
	}
}

/*
 * The partitions DROP SCHEMA ... CASCADE or DROP OWNED takes with it: those
 * in one of the schemas, or owned by one of the roles (and, with CASCADE,
 * those in a schema one of the roles owns, which goes too).  Such a
 * command names no table, so the partitions are found in pg_class; it is
 * rare, and the scan is short next to the drop itself.
 */
static List *
PartitionsGoingWith(List *schemas, List *roles, bool cascade)
{
	Relation	rel = table_open(RelationRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;
	List	   *found = NIL;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);
		bool		goes;

		if (!c->relispartition)
			continue;
		goes = list_member_oid(schemas, c->relnamespace) ||
			list_member_oid(roles, c->relowner);
		if (!goes && cascade && roles != NIL)
		{
			ListCell   *lc;

			foreach(lc, roles)
			{
				if (pg_namespace_ownercheck(c->relnamespace, lfirst_oid(lc)))
				{
					goes = true;
					break;
				}
			}
		}
		if (goes)
			found = lappend_oid(found, c->oid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

PG_FUNCTION_INFO_V1(denorm_on_drop_start);

/*
 * denorm_on_drop_start: event trigger on ddl_command_start for DROP TABLE
 * and ALTER TABLE, DROP SCHEMA and DROP OWNED.  A partition of a counted
 * child that is dropped or detached takes its rows out of the counters,
 * with no row trigger seeing them leave: the counters are corrected here,
 * before the command.
 * Partitions are recognised by OID through pg_inherits, never by the names
 * of triggers on them.  DETACH PARTITION CONCURRENTLY is refused.
 */
Datum
denorm_on_drop_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	List	   *leaving = NIL;
	List	   *allowed = NIL;
	List	   *concurrent = NIL;
	ListCell   *lc;
	ListCell   *lo;
	ListCell   *lcc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by an event trigger", "denorm_on_drop_start")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (IsA(trigdata->parsetree, DropStmt))
	{
		DropStmt   *stmt = (DropStmt *) trigdata->parsetree;

		if (stmt->removeType == OBJECT_TABLE)
		{
			foreach(lc, stmt->objects)
			{
				Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList((List *) lfirst(lc)),
												 NoLock, true);

				if (!OidIsValid(relid))
					continue;
				leaving = lappend_oid(leaving, relid);
				/* DROP TABLE: the table's owner */
				allowed = lappend_int(allowed,
									  has_privs_of_role(GetUserId(), DenormRelationOwner(relid)));
				concurrent = lappend_int(concurrent, 0);
			}
		}
		else if (stmt->removeType == OBJECT_SCHEMA && stmt->behavior == DROP_CASCADE)
		{
			List	   *schemas = NIL;

			/* DROP SCHEMA: the schema's owner, whoever owns what is in it */
			foreach(lc, stmt->objects)
			{
				Oid			schema = get_namespace_oid(strVal(lfirst(lc)), true);

				if (OidIsValid(schema) && pg_namespace_ownercheck(schema, GetUserId()))
					schemas = lappend_oid(schemas, schema);
			}
			if (schemas != NIL)
				leaving = PartitionsGoingWith(schemas, NIL, true);
			foreach(lc, leaving)
			{
				allowed = lappend_int(allowed, 1);
				concurrent = lappend_int(concurrent, 0);
			}
		}
		else
			PG_RETURN_VOID();
	}
	else if (IsA(trigdata->parsetree, DropOwnedStmt))
	{
		DropOwnedStmt *stmt = (DropOwnedStmt *) trigdata->parsetree;
		List	   *roles = NIL;

		/* DROP OWNED: a role whose rights the user has */
		foreach(lc, stmt->roles)
		{
			Oid			role = get_rolespec_oid((RoleSpec *) lfirst(lc), true);

			if (OidIsValid(role) && has_privs_of_role(GetUserId(), role))
				roles = lappend_oid(roles, role);
		}
		if (roles != NIL)
			leaving = PartitionsGoingWith(NIL, roles, stmt->behavior == DROP_CASCADE);
		foreach(lc, leaving)
		{
			allowed = lappend_int(allowed, 1);
			concurrent = lappend_int(concurrent, 0);
		}
	}
	else if (IsA(trigdata->parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) trigdata->parsetree;
		Oid			parent = InvalidOid;

		AttachingTables = NIL;
		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
			PartitionCmd *pc;
			Oid			relid;

			if (cmd->subtype != AT_DetachPartition &&
				cmd->subtype != AT_DetachPartitionFinalize &&
				cmd->subtype != AT_AttachPartition)
				continue;
			if (!OidIsValid(parent))
				parent = RangeVarGetRelid(stmt->relation, NoLock, true);
			pc = (PartitionCmd *) cmd->def;
			relid = RangeVarGetRelid(pc->name, NoLock, true);
			if (!OidIsValid(relid) || !OidIsValid(parent))
				continue;
			if (cmd->subtype == AT_AttachPartition)
			{
				if (has_privs_of_role(GetUserId(), DenormRelationOwner(parent)))
				{
					MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

					AttachingTables = lappend_oid(AttachingTables, relid);
					MemoryContextSwitchTo(old);
				}
				continue;
			}
			leaving = lappend_oid(leaving, relid);
			/* ALTER: the parent's owner */
			allowed = lappend_int(allowed,
								  has_privs_of_role(GetUserId(), DenormRelationOwner(parent)));
			concurrent = lappend_int(concurrent,
									 pc->concurrent || cmd->subtype == AT_DetachPartitionFinalize);
		}
	}
	forthree(lc, leaving, lo, allowed, lcc, concurrent)
		ShiftLeavingPartition(nsp, lfirst_oid(lc), leaving, lfirst_int(lo) != 0,
							  lfirst_int(lcc) != 0);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(denorm_on_drop_end);

/*
 * denorm_on_drop_end: event trigger on ddl_command_end for DROP TABLE and
 * ALTER TABLE.  The partitions denorm_on_drop_start saw leaving are gone
 * from their trees now (the command still holds their locks and their
 * parent's): the extremes noted for min and max counters then (see
 * LeavingExtremes) are applied as removals.
 */
Datum
denorm_on_drop_end(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by an event trigger", "denorm_on_drop_end")));
	ApplyLeaving(get_func_namespace(fcinfo->flinfo->fn_oid), false, InvalidOid);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(denorm_recompute_dropped);

/*
 * denorm_recompute_dropped(dropped oid[]) returns integer
 *
 * The sql_drop step of 1.2, which recomputed counters whose child lost a
 * partition.  Since 1.3 denorm_on_drop_start corrects them before the
 * partition goes; this stays for event triggers of 1.2 until ALTER
 * EXTENSION denorm UPDATE replaces them, and does nothing.
 */
Datum
denorm_recompute_dropped(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(0);
}

PG_FUNCTION_INFO_V1(denorm_shift_attached);

/*
 * denorm_shift_attached() returns bigint
 *
 * Called by the DDL guard when an ALTER TABLE ends: adds to the counters
 * above it what each table that the command attached to a counted child's
 * tree adds up to (with its own partitions).  ATTACH still holds the
 * table's lock, so no writer has changed it since it joined the tree.
 * Returns how many keys it moved.
 */
Datum
denorm_shift_attached(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	List	   *noted = AttachingTables;
	ListCell   *lc;
	int64		moved = 0;

	AttachingTables = NIL;
	foreach(lc, noted)
	{
		Oid			relid = lfirst_oid(lc);
		List	   *ids;
		ListCell   *lc2;

		if (!get_rel_relispartition(relid))
			continue;			/* not attached after all */
		ids = DenormCountersOfChildren(nsp, get_partition_ancestors(relid));
		foreach(lc2, ids)
		{
			DenormRegistry r;

			if (!DenormReadRegistry(nsp, lfirst_int(lc2), &r))
				continue;
			moved += (int64) DenormShiftRows(nsp, &r, relid, false, +1, false);
		}
	}
	PG_RETURN_INT64(moved);
}
