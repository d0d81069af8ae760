/*-------------------------------------------------------------------------
 *
 * parent.c
 *	  The trigger on a counter's parent: a row whose key changes gets the
 *	  counter of its new key, and (deferred counters) a row that gives up
 *	  its key leaves the key its pending deltas.
 *
 * Children are read as the child's owner, pending deltas written as the
 * owner of denorm_pending (owner.c), never as whoever updates the parent.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

/*
 * Runs a one-row, one-column query as the given role and returns its
 * result as numeric (0 when NULL).
 */
static Datum
QueryNumericAs(Oid role, Oid relid, const char *sql, int nargs, Oid *argtypes, Datum *values,
			   Snapshot snap)
{
	bool		isnull;
	Datum		result;

	if (DenormExecAs(role, DENORM_PATH_SAFE, relid, sql, nargs, argtypes, values, NULL, snap, true) != 1)
		elog(ERROR, "denorm query returned no row");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NumericGetDatum(int64_to_numeric(0));
	return datumCopy(result, false, -1);
}

/*
 * What key's children add up to, less the key's pending deltas (deferred
 * counters): the value a parent row with that key must hold for its
 * counter to be exact.  Both are read in snap, so that a writer's child row
 * and its pending delta are seen together or not at all.  Children are
 * read as the child's owner, pending deltas as the owner of denorm_pending:
 *   SELECT count(*) | sum(x.value) FROM child x WHERE x.fk = $1 AND (filter)
 *   SELECT sum(q.delta) FROM denorm_pending q
 *    WHERE q.counter_id = $2 AND q.parent_key::keytype = $1
 */
static Datum
ChildAggregate(DenormRegistry *r, DenormNames *n, Oid keytype, Datum key, Snapshot snap)
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
							1, argtypes, values, snap);
	if (strcmp(r->mode, "deferred") == 0)
	{
		values[1] = Int32GetDatum(r->id);
		actual = DirectFunctionCall2(numeric_sub, actual,
									 QueryNumericAs(n->pending_owner, InvalidOid,
													psprintf("SELECT pg_catalog.sum(q.delta) FROM %s q "
															 "WHERE q.counter_id OPERATOR(pg_catalog.=) $2 "
															 "AND q.parent_key::%s OPERATOR(pg_catalog.=) $1",
															 n->pending, format_type_be_qualified(keytype)),
													2, argtypes, values, snap));
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
 *  - BEFORE INSERT FOR EACH ROW, and BEFORE UPDATE FOR EACH ROW WHEN the
 *    key changes: the row now stands for its key, so its counter is set to
 *    what that key's children (less its pending deltas) add up to; children
 *    written before their parent row (without a foreign key, or under a
 *    deferred one) are counted from the start.  The key is locked first
 *    against child writers that find no row for it (keylock.c), and the
 *    children read with a snapshot taken after that, so a writer in flight
 *    is either seen here or sees this row once it commits.  With ON UPDATE
 *    CASCADE the children follow afterwards and their moves add up
 *    exactly.
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
		!((TRIGGER_FIRED_BEFORE(trigdata->tg_event) &&
		   (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) || TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))) ||
		  (TRIGGER_FIRED_AFTER(trigdata->tg_event) &&
		   (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE INSERT or UPDATE, or AFTER DELETE or UPDATE, FOR EACH ROW with a counter id",
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
			(void) DenormExecAs(n.pending_owner, DENORM_PATH_SAFE, InvalidOid,
						  psprintf("INSERT INTO %s (counter_id, parent_key, delta) "
								   "VALUES ($1, $2, $3)", n.pending),
						  3, argtypes, values, NULL, NULL, false);
		}
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	else
	{
		HeapTuple	newtuple = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ?
			trigdata->tg_trigtuple : trigdata->tg_newtuple;
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
			Oid			fktype;
			int32		fktypmod;
			Oid			fkcoll;
			Snapshot	snap;

			get_atttypetypmodcoll(r.child, get_attnum(r.child, r.foreign_key),
								  &fktype, &fktypmod, &fkcoll);
			DenormLockKey(r.parent,
						  DenormKeyLockHash(keytype,
											TupleDescAttr(RelationGetDescr(rel), keyattno - 1)->attcollation,
											fktype, fkcoll, key),
						  true);
			snap = RegisterSnapshot(GetLatestSnapshot());

			/*
			 * Less what this transaction's commit-time deltas will still add
			 * to the key: they are already among the children read.
			 */
			actual = ChildAggregate(&r, &n, keytype, key, snap);
			UnregisterSnapshot(snap);
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

