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
	(void) DenormExecAs(n.pending_owner, DENORM_PATH_SAFE, InvalidOid,
						psprintf("DELETE FROM %s WHERE counter_id OPERATOR(pg_catalog.=) $1", n.pending),
						1, argtypes, values, NULL, NULL, false);

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
	(void) DenormExecAs(DenormRelationOwner(r->parent), DENORM_PATH_OWNER, r->parent, sql, 2,
						argtypes, values, nulls, NULL, false);
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
