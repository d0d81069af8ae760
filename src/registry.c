/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Reading denorm_counters from C, checking triggers against it, and
 *	  recomputing a counter with the parent owner's rights.
 *
 * A trigger's arguments carry the counter's definition, but anyone may
 * attach a trigger function to a table of their own with arguments of
 * their choosing.  Since maintenance writes the parent as its owner, the
 * arguments are checked once per backend against the registry, which only
 * administrators can write, before a trigger is trusted.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/typcache.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* Owner of a relation, from the syscache */
Oid
DenormRelationOwner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* Is relid the child table itself or one of its partitions, at any depth? */
bool
DenormInChildTree(Oid relid, Oid child)
{
	if (relid == child)
		return true;
	if (!get_rel_relispartition(relid))
		return false;
	return list_member_oid(get_partition_ancestors(relid), child);
}

/*
 * DenormReadRegistry reads counter id's row of denorm_counters (in schema
 * nsp) into r, allocated in the caller's memory context.  Returns false if
 * there is no such counter.
 */
bool
DenormReadRegistry(Oid nsp, int32 id, DenormRegistry *r)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	char	   *sql;
	bool		found;
	int			i;

	sql = psprintf("SELECT parent::oid, child::oid, counter_column::text, foreign_key::text, "
				   "parent_key::text, aggregate, COALESCE(value_column::text, ''), "
				   "COALESCE(filter, ''), mode "
				   "FROM %s.denorm_counters WHERE id OPERATOR(pg_catalog.=) $1",
				   quote_identifier(get_namespace_name(nsp)));
	values[0] = Int32GetDatum(id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * Read with the latest snapshot, as catalogs are read: a REPEATABLE READ
	 * transaction older than a counter already sees its triggers (catalog
	 * access is not snapshot-bound) and must see its registry row too.
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args(sql, 1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read denorm_counters");
	PopActiveSnapshot();
	found = SPI_processed == 1;
	if (found)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *text[9];

		for (i = 0; i < 9; i++)
		{
			char	   *v = SPI_getvalue(tup, desc, i + 1);

			text[i] = MemoryContextStrdup(caller, v ? v : "");
		}
		r->id = id;
		r->parent = (Oid) strtoul(text[0], NULL, 10);
		r->child = (Oid) strtoul(text[1], NULL, 10);
		r->counter_column = text[2];
		r->foreign_key = text[3];
		r->parent_key = text[4];
		r->aggregate = text[5];
		r->value_column = text[6];
		r->filter = text[7];
		r->mode = text[8];
	}
	SPI_finish();
	return found;
}

/*
 * A counter lets writes on its child change its parent, as the parent's
 * owner.  That is only honoured when the child's owner may update the
 * counter column itself: otherwise a registry row pointing someone else's
 * table at one's own child (an administrator can write the registry) would
 * be a way into that table.
 */
static void
CheckAuthority(DenormRegistry *r, int32 id)
{
	AttrNumber	attnum = get_attnum(r->parent, r->counter_column);
	Oid			child_owner = DenormRelationOwner(r->child);

	/* table-level UPDATE, or UPDATE on the column itself */
	if (attnum == InvalidAttrNumber ||
		(pg_class_aclcheck(r->parent, child_owner, ACL_UPDATE) != ACLCHECK_OK &&
		 pg_attribute_aclcheck(r->parent, attnum, child_owner, ACL_UPDATE) != ACLCHECK_OK))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("denorm counter %d may not write column \"%s\" of table \"%s\"",
						id, r->counter_column, get_rel_name(r->parent)),
				 errdetail("The owner of its child table \"%s\" may not update that column.",
						   get_rel_name(r->child)),
				 errhint("Give the child's owner UPDATE on the column, or have one role own both tables.")));
}

/*
 * DenormCheckTrigger verifies that a trigger firing on relid for counter
 * id belongs to that counter: the counter exists, the table is its child
 * or a partition of it, and (when args is given) every argument matches
 * the registry.  Anything else is refused.
 */
void
DenormCheckTrigger(Oid nsp, int32 id, Oid relid, const char *tgname,
				   char **args, DenormRegistry *r)
{
	bool		ok;

	ok = DenormReadRegistry(nsp, id, r) && DenormInChildTree(relid, r->child);
	/*
	 * The parent is taken from the registry by OID; its name in the
	 * arguments may be out of date after a rename and is not compared.
	 */
	if (ok && args != NULL)
		ok = strcmp(args[2], r->counter_column) == 0 &&
			strcmp(args[3], r->foreign_key) == 0 &&
			strcmp(args[4], r->parent_key) == 0 &&
			strcmp(args[5], r->aggregate) == 0 &&
			strcmp(args[6], r->value_column) == 0 &&
			strcmp(args[7], r->filter) == 0 &&
			strcmp(args[8], r->mode) == 0;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trigger \"%s\" on table \"%s\" does not match denorm counter %d",
						tgname, get_rel_name(relid), id),
				 errdetail("denorm triggers act only as registered in denorm_counters."),
				 errhint("Create counters with denorm_create_counter().")));
	CheckAuthority(r, id);
}

/*
 * DenormRecomputeCounter sets every parent row of a counter to the value
 * recomputed from its children and drops the counter's pending deltas.
 * The parent is updated as its owner (as foreign-key actions are), never
 * as whoever happens to cause the recompute, so user code on the parent
 * runs with no more rights than its owner has.  Pending deltas are deleted
 * as the owner of denorm_pending; no user code is involved there.
 */
void
DenormRecomputeCounter(Oid nsp, int32 id, DenormRegistry *r)
{
	StringInfoData sql;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	Oid			save_userid;
	int			save_sec_context;
	const char *parent = quote_qualified_identifier(get_namespace_name(get_rel_namespace(r->parent)),
												   get_rel_name(r->parent));
	const char *child = quote_qualified_identifier(get_namespace_name(get_rel_namespace(r->child)),
												  get_rel_name(r->child));
	const char *key = quote_identifier(r->parent_key);
	const char *col = quote_identifier(r->counter_column);
	const char *fk = quote_identifier(r->foreign_key);
	int			nestlevel;
	int			rc;

	CheckAuthority(r, id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = DenormSetSafeSearchPath();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);

	values[0] = Int32GetDatum(id);
	SetUserIdAndSecContext(DenormRelationOwner(get_relname_relid("denorm_pending", nsp)),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	rc = SPI_execute_with_args(psprintf("DELETE FROM %s.denorm_pending "
										"WHERE counter_id OPERATOR(pg_catalog.=) $1",
										quote_identifier(get_namespace_name(nsp))),
							   1, argtypes, values, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "could not clear pending deltas of denorm counter %d", id);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "UPDATE %s p SET %s = COALESCE(a.v, 0) "
					 "FROM %s p2 LEFT JOIN ("
					 "SELECT x.%s AS k, %s AS v FROM %s x "
					 "WHERE x.%s IS NOT NULL AND (%s) GROUP BY 1) a "
					 "ON a.k OPERATOR(pg_catalog.=) p2.%s "
					 "WHERE p.%s OPERATOR(pg_catalog.=) p2.%s "
					 "AND p.%s IS DISTINCT FROM COALESCE(a.v, 0)",
					 parent, col, parent, fk,
					 strcmp(r->aggregate, "sum") == 0 ?
					 psprintf("pg_catalog.sum(x.%s)", quote_identifier(r->value_column)) :
					 "pg_catalog.count(*)",
					 child, fk, r->filter[0] ? r->filter : "true", key,
					 key, key, col);
	SetUserIdAndSecContext(DenormRelationOwner(r->parent),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION | SECURITY_NOFORCE_RLS);
	rc = SPI_execute(sql.data, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "could not recompute denorm counter %d", id);

	SetUserIdAndSecContext(save_userid, save_sec_context);
	DenormRestoreSearchPath(nestlevel);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(denorm_truncate_trigger);

/*
 * denorm_truncate_trigger: AFTER TRUNCATE FOR EACH STATEMENT, argument the
 * counter id.  TRUNCATE removes rows without row triggers, so the counter
 * is recomputed from what remains (all of it when the whole child went, the
 * rest when one partition did).
 */
Datum
denorm_truncate_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	DenormRegistry r;
	int32		id;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger", "denorm_truncate_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER TRUNCATE with a counter id",
						"denorm_truncate_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	id = pg_strtoint32(trigdata->tg_trigger->tgargs[0]);
	DenormCheckTrigger(nsp, id, RelationGetRelid(trigdata->tg_relation),
					   trigdata->tg_trigger->tgname, NULL, &r);
	DenormRecomputeCounter(nsp, id, &r);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(denorm_recompute_counter);

/*
 * denorm_recompute_counter(counter_id integer) returns void
 *
 * Recomputes a counter as its parent's owner.  Used by the event triggers
 * when partitions come or go; revoked from PUBLIC.
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
	DenormRecomputeCounter(nsp, id, &r);
	PG_RETURN_VOID();
}

/*
 * Runs a one-row, one-column query as the given role and returns its
 * result as numeric (0 when NULL).
 */
static Datum
QueryNumericAs(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	Oid			save_userid;
	int			save_sec_context;
	bool		isnull;
	Datum		result;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(role, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION | SECURITY_NOFORCE_RLS);
	if (SPI_execute_with_args(sql, nargs, argtypes, values, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "denorm query returned no row: %s", sql);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NumericGetDatum(int64_to_numeric(0));
	return SPI_datumTransfer(result, false, -1);
}

/*
 * What key's children add up to, less the key's pending deltas (deferred
 * counters): the value a parent row with that key must hold for its
 * counter to be exact.  Children are read as the child's owner, pending
 * deltas as the owner of denorm_pending.
 */
static Datum
ChildAggregate(DenormRegistry *r, Oid keytype, Datum key, Oid nsp)
{
	Oid			argtypes[2] = {keytype, INT4OID};
	Datum		values[2];
	Datum		actual;
	const char *child = quote_qualified_identifier(get_namespace_name(get_rel_namespace(r->child)),
												  get_rel_name(r->child));

	values[0] = key;
	values[1] = Int32GetDatum(0);
	actual = QueryNumericAs(DenormRelationOwner(r->child),
							psprintf("SELECT (%s)::pg_catalog.numeric FROM %s x "
									 "WHERE x.%s OPERATOR(pg_catalog.=) $1 AND (%s)",
									 strcmp(r->aggregate, "sum") == 0 ?
									 psprintf("pg_catalog.sum(x.%s)", quote_identifier(r->value_column)) :
									 "pg_catalog.count(*)",
									 child, quote_identifier(r->foreign_key),
									 r->filter[0] ? r->filter : "true"),
							1, argtypes, values);
	if (strcmp(r->mode, "deferred") == 0)
	{
		values[1] = Int32GetDatum(r->id);
		actual = DirectFunctionCall2(numeric_sub, actual,
									 QueryNumericAs(DenormRelationOwner(get_relname_relid("denorm_pending", nsp)),
													psprintf("SELECT pg_catalog.sum(q.delta) FROM %s.denorm_pending q "
															 "WHERE q.counter_id OPERATOR(pg_catalog.=) $2 "
															 "AND q.parent_key::%s OPERATOR(pg_catalog.=) $1",
															 quote_identifier(get_namespace_name(nsp)),
															 format_type_be_qualified(keytype)),
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
 * Children are read as the child's owner, pending deltas as the owner of
 * denorm_pending.
 */
Datum
denorm_parent_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	DenormRegistry r;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	const char *nspname;
	int32		id;
	AttrNumber	keyattno;
	Oid			keytype;
	Datum		key;
	bool		isnull;
	int			nestlevel;

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
	CheckAuthority(&r, id);

	keyattno = get_attnum(RelationGetRelid(rel), r.parent_key);
	if (keyattno == InvalidAttrNumber)
		elog(ERROR, "parent key \"%s\" of denorm counter %d not found", r.parent_key, id);
	keytype = TupleDescAttr(RelationGetDescr(rel), keyattno - 1)->atttypid;
	nspname = quote_identifier(get_namespace_name(nsp));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = DenormSetSafeSearchPath();

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
		Oid			save_userid;
		int			save_sec_context;

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
			GetUserIdAndSecContext(&save_userid, &save_sec_context);
			SetUserIdAndSecContext(DenormRelationOwner(get_relname_relid("denorm_pending", nsp)),
								   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
								   SECURITY_RESTRICTED_OPERATION);
			if (SPI_execute_with_args(psprintf("INSERT INTO %s.denorm_pending (counter_id, parent_key, delta) "
											   "VALUES ($1, $2, $3)", nspname),
									  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not record the key given up by denorm counter %d", id);
			SetUserIdAndSecContext(save_userid, save_sec_context);
		}
		DenormRestoreSearchPath(nestlevel);
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
			actual = ChildAggregate(&r, keytype, key, nsp);
		/* into the column's own type, through its input function */
		colattr = TupleDescAttr(RelationGetDescr(rel), colattno - 1);
		getTypeInputInfo(colattr->atttypid, &typinput, &typioparam);
		value = OidInputFunctionCall(typinput,
									 DatumGetCString(DirectFunctionCall1(numeric_out, actual)),
									 typioparam, colattr->atttypmod);
		DenormRestoreSearchPath(nestlevel);
		SPI_finish();
		colnum = colattno;
		newtuple = heap_modify_tuple_by_cols(newtuple, RelationGetDescr(rel), 1,
											 &colnum, &value, &valnull);
		return PointerGetDatum(newtuple);
	}
}

PG_FUNCTION_INFO_V1(denorm_apply_amounts);

/*
 * denorm_apply_amounts(counter_id integer, keys text[], amounts numeric[],
 *                      absolute boolean[]) returns text[]
 *
 * Changes a counter's column on the parent rows with the given keys: adds
 * each amount, or (absolute) sets it.  Returns the keys of the rows changed.
 * Reconcile and flush write parents through this, so the parent's own
 * triggers and constraints run as the parent's owner, not as whoever runs
 * the job (often a superuser, through pg_cron).  The caller must have the
 * rights of that owner: the function gives no rights of its own.
 */
Datum
denorm_apply_amounts(PG_FUNCTION_ARGS)
{
	int32		id;
	DenormRegistry r;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			owner;
	Oid			argtypes[3] = {TEXTARRAYOID, NUMERICARRAYOID, BOOLARRAYOID};
	Datum		values[3];
	char	   *sql;
	Oid			save_userid;
	int			save_sec_context;
	int			nestlevel;
	Datum		result;
	bool		isnull;
	MemoryContext caller = CurrentMemoryContext;
	HeapTuple	keytup;
	Form_pg_attribute keyattr;
	char	   *keytypename;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of denorm_apply_amounts must not be null")));
	id = PG_GETARG_INT32(0);
	if (!DenormReadRegistry(nsp, id, &r))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("denorm counter %d does not exist", id)));
	owner = DenormRelationOwner(r.parent);
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must have the rights of the owner of table \"%s\" to change denorm counter %d",
						get_rel_name(r.parent), id)));

	keytup = SearchSysCacheAttName(r.parent, r.parent_key);
	if (!HeapTupleIsValid(keytup))
		elog(ERROR, "parent key \"%s\" of denorm counter %d not found", r.parent_key, id);
	keyattr = (Form_pg_attribute) GETSTRUCT(keytup);
	keytypename = format_type_extended(keyattr->atttypid, keyattr->atttypmod,
									   FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
	ReleaseSysCache(keytup);

	sql = psprintf("WITH u AS (UPDATE %s p SET %s = CASE WHEN h.a THEN h.v "
				   "ELSE COALESCE(p.%s, 0) OPERATOR(pg_catalog.+) h.v END "
				   "FROM ROWS FROM (pg_catalog.unnest($1::%s[]), pg_catalog.unnest($2), "
				   "pg_catalog.unnest($3)) AS h(k, v, a) "
				   "WHERE p.%s OPERATOR(pg_catalog.=) h.k RETURNING p.%s::text AS k) "
				   "SELECT COALESCE(pg_catalog.array_agg(u.k), '{}') FROM u",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(r.parent)),
											  get_rel_name(r.parent)),
				   quote_identifier(r.counter_column), quote_identifier(r.counter_column),
				   keytypename, quote_identifier(r.parent_key), quote_identifier(r.parent_key));
	values[0] = PG_GETARG_DATUM(1);
	values[1] = PG_GETARG_DATUM(2);
	values[2] = PG_GETARG_DATUM(3);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = DenormSetSafeSearchPath();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION | SECURITY_NOFORCE_RLS);
	if (SPI_execute_with_args(sql, 3, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not apply amounts to denorm counter %d", id);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	MemoryContextSwitchTo(caller);
	result = SPI_datumTransfer(result, false, -1);
	DenormRestoreSearchPath(nestlevel);
	SPI_finish();
	PG_RETURN_DATUM(result);
}
