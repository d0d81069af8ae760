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
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/htup_details.h"
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
 * DenormShiftRows adds (sign +1) or takes away (sign -1) what the rows of
 * one table of a counter's tree add up to, as deltas in the counter's own
 * mode, applied like a statement's.  The caller holds a lock that keeps
 * every writer out of that table (it is being truncated, dropped, attached
 * or detached), so a snapshot taken now sees every row the table holds,
 * whatever the isolation level; and a correction, unlike setting the
 * parents outright, composes with what writers of the other tables do to
 * the same parents meanwhile.  Returns how many keys it moved.
 *   SELECT x.fk, (agg)::numeric FROM [ONLY] tbl x
 *    WHERE x.fk IS NOT NULL AND (filter) GROUP BY 1         (the child's owner)
 */
static uint64
DenormShiftRows(Oid nsp, DenormRegistry *r, Oid relid, bool only, int sign)
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
	/* creation refuses partitioned children for these: no correction fits */
	if (n.extreme)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("denorm counter %d is a %s and cannot follow partitions of table \"%s\"",
						r->id, r->aggregate, get_rel_name(r->child)),
				 errhint("Drop the counter with denorm_drop_counter(%d).", r->id)));
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
			(void) DenormShiftRows(nsp, &r, relid, true, -1);
	}
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
}

/*
 * Takes away from the counters above it what a partition that is leaving
 * its tree (dropped, or detached) adds up to.  The lock DROP TABLE or
 * DETACH PARTITION is about to take is taken first, in the order they take
 * it (the partition's parent, then the partition), so no writer can change
 * the partition between the correction and its leaving; if the command
 * then fails, the correction rolls back with it.  Partitions the role does
 * not own are left alone (the command will fail), as are those whose
 * counter's own child goes in the same command (the counter goes with it)
 * and those below another partition the command removes (counted there).
 */
static void
ShiftLeavingPartition(Oid nsp, Oid relid, List *leaving, Oid owner_of, bool concurrent)
{
	List	   *ancestors;
	List	   *ids;
	ListCell   *lc;

	if (!OidIsValid(relid) || !get_rel_relispartition(relid) ||
		!has_privs_of_role(GetUserId(), DenormRelationOwner(owner_of)))
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
		(void) DenormShiftRows(nsp, &r, relid, false, -1);
	}
}

PG_FUNCTION_INFO_V1(denorm_on_drop_start);

/*
 * denorm_on_drop_start: event trigger on ddl_command_start for DROP TABLE
 * and ALTER TABLE.  A partition of a counted child that is dropped or
 * detached takes its rows out of the counters, with no row trigger seeing
 * them leave: the counters are corrected here, before the command.
 * Partitions are recognised by OID through pg_inherits, never by the names
 * of triggers on them.  DETACH PARTITION CONCURRENTLY is refused.
 */
Datum
denorm_on_drop_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	List	   *leaving = NIL;
	List	   *owners = NIL;
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

		if (stmt->removeType != OBJECT_TABLE)
			PG_RETURN_VOID();
		foreach(lc, stmt->objects)
		{
			Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList((List *) lfirst(lc)),
											 NoLock, true);

			if (!OidIsValid(relid))
				continue;
			leaving = lappend_oid(leaving, relid);
			owners = lappend_oid(owners, relid);	/* DROP: the table's owner */
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
			owners = lappend_oid(owners, parent);	/* ALTER: the parent's owner */
			concurrent = lappend_int(concurrent,
									 pc->concurrent || cmd->subtype == AT_DetachPartitionFinalize);
		}
	}
	forthree(lc, leaving, lo, owners, lcc, concurrent)
		ShiftLeavingPartition(nsp, lfirst_oid(lc), leaving, lfirst_oid(lo), lfirst_int(lcc) != 0);
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
			moved += (int64) DenormShiftRows(nsp, &r, relid, false, +1);
		}
	}
	PG_RETURN_INT64(moved);
}
