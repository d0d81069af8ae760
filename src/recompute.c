/*-------------------------------------------------------------------------
 *
 * recompute.c
 *	  Setting a counter from what its children add up to: after TRUNCATE,
 *	  when partitions come and go, and when a parent row's key changes.
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

/* Runs one statement of denorm's own as owner; returns SPI_processed */
static uint64
ExecAs(Oid owner, bool owner_path, Oid relid, const char *sql, int nargs,
	   Oid *argtypes, Datum *values, const char *nulls, bool read_only)
{
	DenormOwnerState st;
	MemoryContext here = CurrentMemoryContext;
	Oid			viewer = GetUserId();
	uint64		processed = 0;

	DenormBecomeOwner(owner, owner_path ? DENORM_PATH_OWNER : DENORM_PATH_SAFE, &st);
	PG_TRY();
	{
		SPIPlanPtr	plan = DenormPrepare(sql, nargs, argtypes);
		int			rc = SPI_execute_plan(plan, values, nulls, read_only, 0);

		if (rc < 0)
			elog(ERROR, "denorm statement failed: %s", SPI_result_code_string(rc));
		processed = SPI_processed;
		SPI_freeplan(plan);
	}
	PG_CATCH();
	{
		DenormRethrowRedacted(here, viewer, relid);
	}
	PG_END_TRY();
	DenormRevertOwner(&st);
	return processed;
}

/*
 * DenormRecomputeCounter sets every parent row of a counter to the value
 * recomputed from its children and drops the counter's pending deltas:
 *   DELETE FROM denorm_pending WHERE counter_id = $1      (its owner)
 *   <DenormChildSums over all keys>                       (the child's owner)
 *   UPDATE parent p SET col = COALESCE(a.v, 0)
 *     FROM parent p2 LEFT JOIN unnest($1::fktype[], $2::numeric[]) a(k, v)
 *          ON a.k = p2.key
 *    WHERE p.key = p2.key AND p.col IS DISTINCT FROM COALESCE(a.v, 0)
 *                                                         (the parent's owner)
 */
void
DenormRecomputeCounter(Oid nsp, int32 id, DenormRegistry *r)
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
	(void) ExecAs(n.pending_owner, false, InvalidOid,
				  psprintf("DELETE FROM %s WHERE counter_id OPERATOR(pg_catalog.=) $1", n.pending),
				  1, argtypes, values, NULL, false);

	DenormChildSums(r, &n, range, rangenulls, NULL, sums, sumnulls, CurrentMemoryContext);

	argtypes[0] = get_array_type(n.fktypid);
	argtypes[1] = NUMERICARRAYOID;
	values[0] = sums[0];
	values[1] = sums[1];
	nulls[0] = sumnulls[0] ? 'n' : ' ';
	nulls[1] = sumnulls[1] ? 'n' : ' ';
	sql = psprintf("UPDATE %1$s p SET %2$s = COALESCE(a.v, 0) "
				   "FROM %1$s p2 LEFT JOIN ROWS FROM (pg_catalog.unnest($1::%3$s[]), pg_catalog.unnest($2::pg_catalog.numeric[])) AS a(k, v) "
				   "ON a.k OPERATOR(pg_catalog.=) p2.%4$s "
				   "WHERE p.%4$s OPERATOR(pg_catalog.=) p2.%4$s "
				   "AND p.%2$s IS DISTINCT FROM COALESCE(a.v, 0)",
				   n.parent, n.col, n.fktype, n.key);
	(void) ExecAs(DenormRelationOwner(r->parent), true, r->parent, sql, 2, argtypes,
				  values, nulls, false);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(denorm_truncate_trigger);

/*
 * denorm_truncate_trigger: AFTER TRUNCATE FOR EACH STATEMENT, on a counted
 * child and each of its partitions.  TRUNCATE removes rows without row
 * triggers, so the counters of the table and of the tables above it are
 * recomputed from what remains (all of it when the whole child went, the
 * rest when one partition did).
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

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger", "denorm_truncate_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs > 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER TRUNCATE",
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
		DenormRecomputeCounter(nsp, id, &r);
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
	DenormRecomputeCounter(nsp, id, &r);
	PG_RETURN_VOID();
}

/*
 * Runs a one-row, one-column query as the given role and returns its
 * result as numeric (0 when NULL).
 */
static Datum
QueryNumericAs(Oid role, Oid relid, const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	bool		isnull;
	Datum		result;

	if (ExecAs(role, false, relid, sql, nargs, argtypes, values, NULL, true) != 1)
		elog(ERROR, "denorm query returned no row");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NumericGetDatum(int64_to_numeric(0));
	return datumCopy(result, false, -1);
}

/*
 * What key's children add up to, less the key's pending deltas (deferred
 * counters): the value a parent row with that key must hold for its
 * counter to be exact.  Children are read as the child's owner, pending
 * deltas as the owner of denorm_pending:
 *   SELECT count(*) | sum(x.value) FROM child x WHERE x.fk = $1 AND (filter)
 *   SELECT sum(q.delta) FROM denorm_pending q
 *    WHERE q.counter_id = $2 AND q.parent_key::keytype = $1
 */
static Datum
ChildAggregate(DenormRegistry *r, DenormNames *n, Oid keytype, Datum key)
{
	Oid			argtypes[2] = {keytype, INT4OID};
	Datum		values[2];
	Datum		actual;

	values[0] = key;
	values[1] = Int32GetDatum(0);
	actual = QueryNumericAs(DenormRelationOwner(r->child), r->child,
							psprintf("SELECT (%s)::pg_catalog.numeric FROM %s x "
									 "WHERE x.%s OPERATOR(pg_catalog.=) $1 AND (%s)",
									 n->agg, n->child, n->fk, n->filter),
							1, argtypes, values);
	if (strcmp(r->mode, "deferred") == 0)
	{
		values[1] = Int32GetDatum(r->id);
		actual = DirectFunctionCall2(numeric_sub, actual,
									 QueryNumericAs(n->pending_owner, InvalidOid,
													psprintf("SELECT pg_catalog.sum(q.delta) FROM %s q "
															 "WHERE q.counter_id OPERATOR(pg_catalog.=) $2 "
															 "AND q.parent_key::%s OPERATOR(pg_catalog.=) $1",
															 n->pending, format_type_be_qualified(keytype)),
													2, argtypes, values));
	}
	return actual;
}

/* An integer column's value as int64, whatever its width */
static int64
ColumnInt64(TupleDesc desc, AttrNumber attno, Datum value)
{
	switch (TupleDescAttr(desc, attno - 1)->atttypid)
	{
		case INT2OID:
			return DatumGetInt16(value);
		case INT4OID:
			return DatumGetInt32(value);
		default:
			return DatumGetInt64(value);
	}
}

PG_FUNCTION_INFO_V1(denorm_parent_trigger);

/*
 * denorm_parent_trigger, on the parent table, argument the counter id:
 *  - BEFORE UPDATE FOR EACH ROW WHEN the key changes: the row now stands
 *    for another key, so its counter is set to what that key's children
 *    (less its pending deltas) add up to.  With ON UPDATE CASCADE the
 *    children follow afterwards and their moves add up exactly.
 *  - AFTER DELETE OR UPDATE OF the key FOR EACH ROW (deferred counters):
 *    the key the row gives up gets the row's column back as a pending
 *    delta, so that what stays pending for it is exactly what its
 *    remaining children add up to.
 * Children are read as the child's owner, pending deltas written as the
 * owner of denorm_pending.
 */
Datum
denorm_parent_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	DenormRegistry r;
	DenormNames n;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	int32		id;
	AttrNumber	keyattno;
	Oid			keytype;
	Datum		key;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger", "denorm_parent_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 1 ||
		!((TRIGGER_FIRED_BEFORE(trigdata->tg_event) && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)) ||
		  (TRIGGER_FIRED_AFTER(trigdata->tg_event) &&
		   (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE UPDATE or AFTER DELETE FOR EACH ROW with a counter id",
						"denorm_parent_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	id = pg_strtoint32(trigdata->tg_trigger->tgargs[0]);
	if (!DenormReadRegistry(nsp, id, &r) || !DenormInChildTree(RelationGetRelid(rel), r.parent))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trigger \"%s\" on table \"%s\" does not match denorm counter %d",
						trigdata->tg_trigger->tgname, RelationGetRelationName(rel), id),
				 errdetail("denorm triggers act only as registered in denorm_counters.")));
	DenormCheckAuthority(&r, id);

	keyattno = get_attnum(RelationGetRelid(rel), r.parent_key);
	if (keyattno == InvalidAttrNumber)
		elog(ERROR, "parent key \"%s\" of denorm counter %d not found", r.parent_key, id);
	keytype = TupleDescAttr(RelationGetDescr(rel), keyattno - 1)->atttypid;
	DenormResolveNames(nsp, &r, &n);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (TRIGGER_FIRED_AFTER(trigdata->tg_event))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		AttrNumber	colattno = get_attnum(RelationGetRelid(rel), r.counter_column);
		Datum		oldcol;
		bool		colnull;
		Oid			argtypes[3] = {INT4OID, TEXTOID, NUMERICOID};
		Datum		values[3];
		Oid			typoutput;
		bool		typisvarlena;

		/*
		 * The row gives up its key (deleted, or its key changed).  Its
		 * column plus the key's pending deltas equalled what the key's
		 * children added up to; adding the column back as a pending delta
		 * leaves the key with exactly what its children still add up to
		 * once they have left (ON DELETE/UPDATE CASCADE, whose deltas may
		 * come before or after this) or with the orphans that stay.  A
		 * row that takes the key later starts from that.
		 */
		key = heap_getattr(trigdata->tg_trigtuple, keyattno, desc, &isnull);
		oldcol = heap_getattr(trigdata->tg_trigtuple, colattno, desc, &colnull);
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && !isnull)
		{
			bool		newnull;
			Datum		newkey = heap_getattr(trigdata->tg_newtuple, keyattno, desc, &newnull);
			TypeCacheEntry *tce = lookup_type_cache(keytype, TYPECACHE_EQ_OPR_FINFO);

			/* the key written back unchanged: nothing given up */
			if (!newnull &&
				DatumGetBool(FunctionCall2Coll(&tce->eq_opr_finfo,
											   TupleDescAttr(desc, keyattno - 1)->attcollation,
											   key, newkey)))
				isnull = true;
		}
		if (!isnull && !colnull && strcmp(r.mode, "deferred") == 0)
		{
			getTypeOutputInfo(keytype, &typoutput, &typisvarlena);
			values[0] = Int32GetDatum(id);
			values[1] = CStringGetTextDatum(OidOutputFunctionCall(typoutput, key));
			values[2] = DirectFunctionCall3(numeric_in,
											CStringGetDatum(OidOutputFunctionCall(
												TupleDescAttr(desc, colattno - 1)->atttypid == NUMERICOID ?
												F_NUMERIC_OUT : F_INT8OUT,
												TupleDescAttr(desc, colattno - 1)->atttypid == NUMERICOID ?
												oldcol : Int64GetDatum(ColumnInt64(desc, colattno, oldcol)))),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
			(void) ExecAs(n.pending_owner, false, InvalidOid,
						  psprintf("INSERT INTO %s (counter_id, parent_key, delta) "
								   "VALUES ($1, $2, $3)", n.pending),
						  3, argtypes, values, NULL, false);
		}
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	else
	{
		HeapTuple	newtuple = trigdata->tg_newtuple;
		AttrNumber	colattno = get_attnum(RelationGetRelid(rel), r.counter_column);
		Form_pg_attribute colattr;
		Datum		actual;
		Datum		value;
		int			colnum;
		bool		valnull = false;
		Oid			typinput;
		Oid			typioparam;

		if (colattno == InvalidAttrNumber)
			elog(ERROR, "counter column \"%s\" of denorm counter %d not found", r.counter_column, id);
		key = heap_getattr(newtuple, keyattno, RelationGetDescr(rel), &isnull);
		if (isnull)
			actual = NumericGetDatum(int64_to_numeric(0));
		else
		{
			Oid			typoutput;
			bool		typisvarlena;

			/*
			 * Less what this transaction's commit-time deltas will still add
			 * to the key: they are already among the children read.
			 */
			actual = ChildAggregate(&r, &n, keytype, key);
			getTypeOutputInfo(keytype, &typoutput, &typisvarlena);
			actual = DirectFunctionCall2(numeric_sub, actual,
										 DenormLocalDelta(id, OidOutputFunctionCall(typoutput, key)));
		}
		/* out of SPI's memory, which SPI_finish frees */
		actual = SPI_datumTransfer(actual, false, -1);
		SPI_finish();
		/* into the column's own type, through its input function */
		colattr = TupleDescAttr(RelationGetDescr(rel), colattno - 1);
		getTypeInputInfo(colattr->atttypid, &typinput, &typioparam);
		value = OidInputFunctionCall(typinput,
									 DatumGetCString(DirectFunctionCall1(numeric_out, actual)),
									 typioparam, colattr->atttypmod);
		colnum = colattno;
		newtuple = heap_modify_tuple_by_cols(newtuple, RelationGetDescr(rel), 1,
											 &colnum, &value, &valnull);
		return PointerGetDatum(newtuple);
	}
}

/*
 * Partitions dropped with their rows: (counter id, partition) pairs, noted
 * when a DROP TABLE starts (while the partitions can still be identified
 * through pg_inherits) and recomputed when the command has dropped them.
 * Backend-local; each DROP TABLE starts afresh, and only partitions the
 * command really dropped count, so a DROP that failed leaves nothing for a
 * later one to act on.
 */
typedef struct DroppingPartition
{
	int32		counter_id;
	Oid			partition;
} DroppingPartition;

static List *DroppingPartitions = NIL;

void
DenormForgetDroppedPartitions(void)
{
	DroppingPartitions = NIL;	/* its cells lived in TopTransactionContext */
}


PG_FUNCTION_INFO_V1(denorm_on_drop_start);

/*
 * denorm_on_drop_start: event trigger on ddl_command_start for DROP TABLE.
 * Notes the counters whose child loses a partition (with its rows, which
 * no row trigger sees leave) by this statement.  Partitions are recognised
 * by OID through pg_inherits, never by the names of triggers on them, and
 * only those the role running the DROP may drop (owns) are noted.
 */
Datum
denorm_on_drop_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by an event trigger", "denorm_on_drop_start")));
	DroppingPartitions = NIL;
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_TABLE)
		PG_RETURN_VOID();

	foreach(lc, stmt->objects)
	{
		RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);
		List	   *ids;
		ListCell   *lc2;
		MemoryContext old;

		if (!OidIsValid(relid) || !get_rel_relispartition(relid) ||
			!has_privs_of_role(GetUserId(), DenormRelationOwner(relid)))
			continue;
		ids = DenormCountersOfChildren(nsp, get_partition_ancestors(relid));
		old = MemoryContextSwitchTo(TopTransactionContext);
		foreach(lc2, ids)
		{
			DroppingPartition *d = palloc(sizeof(DroppingPartition));

			d->counter_id = lfirst_int(lc2);
			d->partition = relid;
			DroppingPartitions = lappend(DroppingPartitions, d);
		}
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(denorm_recompute_dropped);

/*
 * denorm_recompute_dropped(dropped oid[]) returns integer
 *
 * Called from the sql_drop event trigger with the tables the command
 * dropped: recomputes the counters noted by denorm_on_drop_start for a
 * partition among them whose child is still there (a counter whose own
 * table went is dropped with it).  Returns how many it recomputed.
 */
Datum
denorm_recompute_dropped(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	List	   *noted = DroppingPartitions;
	List	   *done = NIL;
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	ListCell   *lc;
	int			n = 0;

	DroppingPartitions = NIL;
	deconstruct_array(arr, OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &elemnulls, &nelems);
	foreach(lc, noted)
	{
		DroppingPartition *d = (DroppingPartition *) lfirst(lc);
		DenormRegistry r;
		bool		dropped = false;
		int			i;

		for (i = 0; i < nelems && !dropped; i++)
			dropped = !elemnulls[i] && DatumGetObjectId(elems[i]) == d->partition;
		if (!dropped || list_member_int(done, d->counter_id) ||
			!DenormReadRegistry(nsp, d->counter_id, &r) ||
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(r.child)) ||
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(r.parent)))
			continue;
		DenormRecomputeCounter(nsp, r.id, &r);
		done = lappend_int(done, r.id);
		n++;
	}
	PG_RETURN_INT32(n);
}
