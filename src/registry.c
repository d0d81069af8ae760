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
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_coerce.h"
#include "parser/parse_oper.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/typcache.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "catalog/namespace.h"
#include "utils/inval.h"

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
	if (SPI_execute_snapshot(DenormPrepare(sql, 1, argtypes), values, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read denorm_counters");
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
 * DenormCountersOfChildren: the ids of the counters whose child is one of
 * the given tables, ascending, read with the latest snapshot (as catalogs
 * are; see DenormReadRegistry), in the caller's memory context.
 */
List *
DenormCountersOfChildren(Oid nsp, List *children)
{
	Datum	   *elems;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	List	   *ids = NIL;
	ListCell   *lc;
	int			i = 0;
	uint64		row;
	MemoryContext caller;

	elems = palloc(sizeof(Datum) * list_length(children));
	foreach(lc, children)
		elems[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, i, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	caller = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args(psprintf("SELECT d.id FROM %s.denorm_counters d "
									   "WHERE d.child::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) "
									   "ORDER BY d.id",
									   quote_identifier(get_namespace_name(nsp))),
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read denorm_counters");
	PopActiveSnapshot();
	for (row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(caller);

		ids = lappend_int(ids, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[row],
														   SPI_tuptable->tupdesc, 1, &isnull)));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return ids;
}

/*
 * DenormCountersOfTables: the ids of the counters whose parent or child is
 * one of the given tables, ascending, read as DenormCountersOfChildren
 * reads them.
 */
List *
DenormCountersOfTables(Oid nsp, List *tables)
{
	Datum	   *elems;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	List	   *ids = NIL;
	ListCell   *lc;
	int			i = 0;
	uint64		row;
	MemoryContext caller;

	elems = palloc(sizeof(Datum) * Max(list_length(tables), 1));
	foreach(lc, tables)
		elems[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, i, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	caller = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args(psprintf("SELECT d.id FROM %s.denorm_counters d "
									   "WHERE d.parent::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) "
									   "OR d.child::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) "
									   "ORDER BY d.id",
									   quote_identifier(get_namespace_name(nsp))),
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read denorm_counters");
	PopActiveSnapshot();
	for (row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(caller);

		ids = lappend_int(ids, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[row],
														   SPI_tuptable->tupdesc, 1, &isnull)));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return ids;
}

/*
 * A counter lets writes on its child change its parent, as the parent's
 * owner.  That is only honoured when the child's owner may update the
 * counter column itself: otherwise a counter pointing someone else's
 * table at one's own child would be a way into that table.  Checked when a
 * counter is created and again whenever a session first trusts it (the
 * grant may have been revoked since).
 */
void
DenormCheckAuthority(DenormRegistry *r, int32 id)
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
	/* keys are hashed, cast and compared with the writer's rights */
	if (ok && (!DenormBuiltinType(get_atttype(r->parent, get_attnum(r->parent, r->parent_key))) ||
			   !DenormBuiltinType(get_atttype(r->child, get_attnum(r->child, r->foreign_key)))))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("parent key and foreign key of denorm counter %d must be of built-in types", id),
				 errhint("Drop the counter with denorm_drop_counter(%d).", id)));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trigger \"%s\" on table \"%s\" does not match denorm counter %d",
						tgname, get_rel_name(relid), id),
				 errdetail("denorm triggers act only as registered in denorm_counters."),
				 errhint("Create counters with denorm_create_counter().")));
	DenormCheckAuthority(r, id);
}

/*
 * Registry writes.  denorm_counters is written only here, as its owner (the
 * extension's owner): administrators have no rights on it of their own, so
 * every row in it went through these checks, made with the caller's rights.
 */

/* Refuses a caller who does not own (have the rights of the owner of) relid */
static void
RequireOwner(Oid relid)
{
	if (!has_privs_of_role(GetUserId(), DenormRelationOwner(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", get_rel_name(relid)),
				 errdetail("Only the owner of both the parent and the child table can create or drop a counter on them.")));
}

/* A table a new counter may use: an ordinary or partitioned, permanent table */
static void
RequireCountableTable(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	form = (Form_pg_class) GETSTRUCT(tup);
	if (form->relkind != RELKIND_RELATION && form->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", NameStr(form->relname))));
	if (form->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("denorm counters cannot use temporary table \"%s\"", NameStr(form->relname)),
				 errdetail("A counter outlives the session that creates it; its triggers would outlive the temporary table.")));
	ReleaseSysCache(tup);
}

/* Refuses a column name that relid lacks */
static void
RequireColumn(Oid relid, const char *column)
{
	if (get_attnum(relid, column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist", column, get_rel_name(relid))));
}

/* The text of argument i, or "" when it is NULL */
static char *
TextArg(FunctionCallInfo fcinfo, int i)
{
	if (PG_ARGISNULL(i))
		return "";
	return text_to_cstring(DatumGetTextPP(PG_GETARG_DATUM(i)));
}

/* The name of argument i, or "" when it is NULL */
static char *
NameArg(FunctionCallInfo fcinfo, int i)
{
	if (PG_ARGISNULL(i))
		return "";
	return pstrdup(NameStr(*PG_GETARG_NAME(i)));
}

/* Runs one statement on denorm's own tables as their owner */
static void
ExecAsRegistryOwner(Oid nsp, const char *sql, int nargs, Oid *argtypes, Datum *values,
					const char *nulls)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) DenormExecAs(DenormRelationOwner(get_relname_relid("denorm_counters", nsp)),
						DENORM_PATH_SAFE, InvalidOid, sql, nargs, argtypes, values, nulls,
						NULL, false);
}

PG_FUNCTION_INFO_V1(denorm_registry_insert);

/*
 * denorm_registry_insert(parent regclass, counter_column name, child
 *                        regclass, foreign_key name, parent_key name,
 *                        aggregate text, value_column name, filter text,
 *                        mode text) returns integer
 *
 * Records a counter and returns its id.  denorm_create_counter validates
 * the declaration in full first; what a counter's trust rests on is checked
 * again here, against the caller, so calling this directly gains nothing:
 * the caller owns both tables, both are permanent ordinary or partitioned
 * tables, the child's owner may update the counter column, and the filter
 * is one checked expression in canonical form.
 */
Datum
denorm_registry_insert(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	DenormRegistry r;
	Oid			argtypes[9] = {OIDOID, NAMEOID, OIDOID, NAMEOID, NAMEOID, TEXTOID,
	NAMEOID, TEXTOID, TEXTOID};
	Datum		values[9];
	char		nulls[9];
	bool		isnull;
	int			i;

	for (i = 0; i < 9; i++)
	{
		if (PG_ARGISNULL(i) && i != 6 && i != 7)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments of denorm_registry_insert must not be null")));
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	r.id = 0;
	r.parent = PG_GETARG_OID(0);
	r.counter_column = NameArg(fcinfo, 1);
	r.child = PG_GETARG_OID(2);
	r.foreign_key = NameArg(fcinfo, 3);
	r.parent_key = NameArg(fcinfo, 4);
	r.aggregate = TextArg(fcinfo, 5);
	r.value_column = NameArg(fcinfo, 6);
	r.filter = TextArg(fcinfo, 7);
	r.mode = TextArg(fcinfo, 8);

	RequireCountableTable(r.parent);
	RequireCountableTable(r.child);
	RequireOwner(r.parent);
	RequireOwner(r.child);
	RequireColumn(r.parent, r.counter_column);
	RequireColumn(r.parent, r.parent_key);
	RequireColumn(r.child, r.foreign_key);
	if (strcmp(r.aggregate, "count") != 0 && strcmp(r.aggregate, "sum") != 0 &&
		strcmp(r.aggregate, "min") != 0 && strcmp(r.aggregate, "max") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown aggregate \"%s\"", r.aggregate)));
	if (strcmp(r.mode, "immediate") != 0 && strcmp(r.mode, "commit") != 0 &&
		strcmp(r.mode, "deferred") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown counter mode \"%s\"", r.mode)));
	if ((strcmp(r.aggregate, "count") != 0) != (r.value_column[0] != '\0'))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a sum, min or max counter needs a value_column and a count counter takes none")));
	if ((strcmp(r.aggregate, "min") == 0 || strcmp(r.aggregate, "max") == 0) &&
		strcmp(r.mode, "deferred") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a min or max counter cannot be deferred")));
	if (r.value_column[0] != '\0')
		RequireColumn(r.child, r.value_column);
	{
		Oid			keytype = get_atttype(r.parent, get_attnum(r.parent, r.parent_key));
		Oid			fktype = get_atttype(r.child, get_attnum(r.child, r.foreign_key));

		if (!DenormBuiltinType(keytype) || !DenormBuiltinType(fktype))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("parent key and foreign key must be of built-in types")));
		if (strcmp(r.mode, "deferred") == 0 &&
			keytype != INT2OID && keytype != INT4OID && keytype != INT8OID &&
			keytype != NUMERICOID && keytype != TEXTOID && keytype != VARCHAROID &&
			keytype != UUIDOID)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a deferred counter needs a parent key of an integer, numeric, text or uuid type")));
	}
	if (r.filter[0] != '\0' && strcmp(DenormSafeFilter(r.child, r.filter), r.filter) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("counter filter is not in canonical form"),
				 errhint("Create counters with denorm_create_counter().")));
	if (get_attnum(r.parent, r.counter_column) == InvalidAttrNumber)
		RequireColumn(r.parent, r.counter_column);
	if (DenormCitusPresent())
		DenormCitusCheckNew(&r);
	{
		AttrNumber	attnum = get_attnum(r.parent, r.counter_column);
		Oid			child_owner = DenormRelationOwner(r.child);

		if (pg_class_aclcheck(r.parent, child_owner, ACL_UPDATE) != ACLCHECK_OK &&
			pg_attribute_aclcheck(r.parent, attnum, child_owner, ACL_UPDATE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the owner of table \"%s\" may not update column \"%s\" of table \"%s\"",
							get_rel_name(r.child), r.counter_column, get_rel_name(r.parent)),
					 errdetail("A counter writes its parent on behalf of the child's owner, whose writes to the child move it."),
					 errhint("Give role \"%s\" UPDATE on the column, or have one role own both tables.",
							 GetUserNameFromId(child_owner, false))));
	}

	/*
	 * Two sessions creating the same counter on different children are not
	 * kept apart by the lock on the child: the second one's row waits here
	 * for the first one's to commit (or roll back), and is then left out
	 * rather than failing on the unique index with its OIDs.
	 */
	ExecAsRegistryOwner(nsp,
						psprintf("INSERT INTO %s.denorm_counters (parent, counter_column, child, "
								 "foreign_key, parent_key, aggregate, value_column, filter, mode) "
								 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
								 "ON CONFLICT (parent, counter_column) DO NOTHING RETURNING id",
								 quote_identifier(get_namespace_name(nsp))),
						9, argtypes, values, nulls);
	if (SPI_processed != 1)
	{
		/* (no context lines: the PL/pgSQL functions that got here add nothing) */
		error_context_stack = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("column \"%s\" of table \"%s\" already has a denorm counter",
						r.counter_column,
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(r.parent)),
												   get_rel_name(r.parent))),
				 errdetail("Another session created it meanwhile."),
				 errhint("Drop it first with denorm_drop_counter().")));
	}
	values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	SPI_finish();
	/* every session's child triggers read their counters anew */
	CacheInvalidateRelcacheByRelid(r.child);
	/* and the other nodes of a Citus cluster learn of it */
	(void) DenormCitusPublish(nsp, DatumGetInt32(values[0]));
	PG_RETURN_DATUM(values[0]);
}

/*
 * The owners' check for changing an existing counter: the caller owns
 * whichever of its tables still exist (a table being dropped takes its
 * counters along through the event trigger, which runs as the extension's
 * owner).  False when there is no such counter.
 */
static bool
CheckCounterOwner(Oid nsp, int32 id)
{
	DenormRegistry r;

	if (!DenormReadRegistry(nsp, id, &r))
		return false;
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(r.parent)))
		RequireOwner(r.parent);
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(r.child)))
		RequireOwner(r.child);
	return true;
}

PG_FUNCTION_INFO_V1(denorm_registry_lock);

/*
 * denorm_registry_lock(counter_id integer) returns boolean
 *
 * Locks a counter's registry row for a drop (a concurrent drop of the same
 * counter waits, then finds it gone); false when there is no such counter.
 * The caller must own the counter's tables.
 */
Datum
denorm_registry_lock(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	bool		found;

	if (PG_ARGISNULL(0) || !CheckCounterOwner(nsp, PG_GETARG_INT32(0)))
		PG_RETURN_BOOL(false);
	values[0] = PG_GETARG_DATUM(0);
	ExecAsRegistryOwner(nsp,
						psprintf("SELECT 1 FROM %s.denorm_counters d "
								 "WHERE d.id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
								 quote_identifier(get_namespace_name(nsp))),
						1, argtypes, values, NULL);
	found = SPI_processed == 1;
	SPI_finish();
	PG_RETURN_BOOL(found);
}

PG_FUNCTION_INFO_V1(denorm_registry_delete);

/*
 * denorm_registry_delete(counter_id integer) returns void
 *
 * Deletes a counter's registry row and its pending deltas (the caller has
 * removed its triggers and flushed it).  The caller must own the counter's
 * tables.
 */
Datum
denorm_registry_delete(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	DenormRegistry r;

	if (PG_ARGISNULL(0) || !CheckCounterOwner(nsp, PG_GETARG_INT32(0)))
		PG_RETURN_VOID();
	if (DenormReadRegistry(nsp, PG_GETARG_INT32(0), &r) &&
		SearchSysCacheExists1(RELOID, ObjectIdGetDatum(r.child)))
		CacheInvalidateRelcacheByRelid(r.child);
	values[0] = PG_GETARG_DATUM(0);
	ExecAsRegistryOwner(nsp,
						psprintf("WITH gone AS (DELETE FROM %1$s.denorm_pending q "
								 "WHERE q.counter_id OPERATOR(pg_catalog.=) $1) "
								 "DELETE FROM %1$s.denorm_counters d "
								 "WHERE d.id OPERATOR(pg_catalog.=) $1",
								 quote_identifier(get_namespace_name(nsp))),
						1, argtypes, values, NULL);
	SPI_finish();
	(void) DenormCitusPublish(nsp, PG_GETARG_INT32(0));
	PG_RETURN_VOID();
}

/*
 * DenormRegistrySetNames records the column names and filter of counter
 * r->id as r gives them, after a column rename (rename.c): its tables stay
 * the same, only what their columns are called changed.  What the
 * counter's trust rests on is checked again first, as
 * denorm_registry_insert checks it: every name is a column of its table,
 * the child's owner may still update the counter column, and a filter
 * printed anew (new_filter) is one checked expression in canonical form
 * (one left as it was stored was checked then).  The caller owns the table
 * whose column was renamed; the row is written as the registry's owner,
 * in the caller's transaction, so it rolls back with the rename.
 */
void
DenormRegistrySetNames(Oid nsp, DenormRegistry *r, bool new_filter)
{
	Oid			argtypes[6] = {INT4OID, NAMEOID, NAMEOID, NAMEOID, NAMEOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	RequireColumn(r->parent, r->counter_column);
	RequireColumn(r->parent, r->parent_key);
	RequireColumn(r->child, r->foreign_key);
	if (r->value_column[0] != '\0')
		RequireColumn(r->child, r->value_column);
	if (new_filter && strcmp(DenormSafeFilter(r->child, r->filter), r->filter) != 0)
		elog(ERROR, "filter of denorm counter %d is not in canonical form after a rename", r->id);
	DenormCheckAuthority(r, r->id);

	values[0] = Int32GetDatum(r->id);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(r->counter_column));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(r->foreign_key));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(r->parent_key));
	if (r->value_column[0] != '\0')
		values[4] = DirectFunctionCall1(namein, CStringGetDatum(r->value_column));
	else
		nulls[4] = 'n';
	if (r->filter[0] != '\0')
		values[5] = CStringGetTextDatum(r->filter);
	else
		nulls[5] = 'n';
	ExecAsRegistryOwner(nsp,
						psprintf("UPDATE %s.denorm_counters d SET counter_column = $2, "
								 "foreign_key = $3, parent_key = $4, value_column = $5, filter = $6 "
								 "WHERE d.id OPERATOR(pg_catalog.=) $1",
								 quote_identifier(get_namespace_name(nsp))),
						6, argtypes, values, nulls);
	if (SPI_processed != 1)
		elog(ERROR, "denorm counter %d vanished while its columns were renamed", r->id);
	SPI_finish();
	/* every session's triggers and targets read the counter anew */
	CacheInvalidateRelcacheByRelid(r->child);
	CacheInvalidateRelcacheByRelid(r->parent);
	(void) DenormCitusPublish(nsp, r->id);
}

PG_FUNCTION_INFO_V1(denorm_key_compare_problem);

/*
 * denorm_key_compare_problem(key_type regtype, fk_type regtype) returns text
 *
 * Why a parent key of key_type cannot be matched with a foreign key of
 * fk_type the way denorm matches them (key = fk), or NULL.  The operator
 * is resolved as a query would resolve it; it and every conversion it
 * needs must be immutable, so that which parent a child counts for never
 * depends on session settings (timestamp = timestamptz depends on
 * TimeZone, for one).
 */
Datum
denorm_key_compare_problem(PG_FUNCTION_ARGS)
{
	Oid			keytype = PG_GETARG_OID(0);
	Oid			fktype = PG_GETARG_OID(1);
	Operator	op;
	Form_pg_operator form;
	char	   *problem = NULL;
	int			i;

	op = oper(NULL, list_make1(makeString("=")), keytype, fktype, true, -1);
	if (op == NULL)
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("a parent key of type %s cannot be compared with a foreign key of type %s",
												  format_type_be(keytype), format_type_be(fktype))));
	form = (Form_pg_operator) GETSTRUCT(op);
	if (func_volatile(form->oprcode) != PROVOLATILE_IMMUTABLE)
		problem = psprintf("comparing a parent key of type %s with a foreign key of type %s depends on session settings",
						   format_type_be(keytype), format_type_be(fktype));
	for (i = 0; i < 2 && problem == NULL; i++)
	{
		Oid			from = i == 0 ? keytype : fktype;
		Oid			to = i == 0 ? form->oprleft : form->oprright;
		Oid			funcid;
		CoercionPathType path;

		if (from == to)
			continue;
		path = find_coercion_pathway(to, from, COERCION_IMPLICIT, &funcid);
		if (path == COERCION_PATH_FUNC && func_volatile(funcid) != PROVOLATILE_IMMUTABLE)
			problem = psprintf("comparing a parent key of type %s with a foreign key of type %s converts with a function that depends on session settings",
							   format_type_be(keytype), format_type_be(fktype));
		else if (path == COERCION_PATH_NONE || path == COERCION_PATH_COERCEVIAIO)
			problem = psprintf("a parent key of type %s cannot be compared with a foreign key of type %s",
							   format_type_be(keytype), format_type_be(fktype));
	}
	ReleaseSysCache(op);
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

PG_FUNCTION_INFO_V1(denorm_error);

/*
 * denorm_error(sqlstate text, message text, detail text, hint text)
 *
 * Raises an error for denorm's PL/pgSQL functions without the CONTEXT
 * lines PL/pgSQL and SPI would add: the message names the counter and the table,
 * and the function that noticed it is of no use to the reader.
 */
Datum
denorm_error(PG_FUNCTION_ARGS)
{
	char	   *code;
	char	   *detail = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *hint = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		elog(ERROR, "denorm_error needs an SQLSTATE and a message");
	code = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strlen(code) != 5)
		elog(ERROR, "invalid SQLSTATE \"%s\"", code);
	/* (whoever catches the error restores the callbacks it had) */
	error_context_stack = NULL;
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])),
			 errmsg_internal("%s", text_to_cstring(PG_GETARG_TEXT_PP(1))),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
	PG_RETURN_VOID();
}
