/*-------------------------------------------------------------------------
 *
 * dropped.c
 *	  What a counter dropped with its table needs to be recreated: the
 *	  names its tables had, and who dropped them.
 *
 * The registry knows a counter's tables by OID, and their names are gone
 * with them by the time the sql_drop event trigger (denorm_on_drop) records
 * the dropped counter.  It takes the names from the dropped objects; but a
 * table rebuilt the usual way,
 *
 *   ALTER TABLE posts RENAME TO posts_old;  CREATE TABLE posts (...);
 *   INSERT INTO posts SELECT ... FROM posts_old;  DROP TABLE posts_old;
 *
 * takes its counter along to posts_old, and the name the counter should be
 * recreated under is the one the table had before that rename.  So a
 * rename of a counted table (ALTER ... RENAME TO, ALTER ... SET SCHEMA) is
 * noted when it starts: the name it is about to give up goes to
 * denorm_renamed_tables, latest first (the last DENORM_FORMER_NAMES), written as the registry's owner in
 * the transaction of the rename (a rollback takes it back).  denorm_on_drop
 * copies those names into the dropped counter's record and forgets them.
 * A rename of a table no counter uses costs one look at the registry.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* The relation a RENAME TO or SET SCHEMA of a table-like object names, or NULL */
static RangeVar *
RenamedRelation(Node *parsetree)
{
	ObjectType	type;
	RangeVar   *relation;

	if (parsetree == NULL)
		return NULL;
	if (IsA(parsetree, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;

		type = stmt->renameType;
		relation = stmt->relation;
		if (stmt->newname == NULL)
			return NULL;
	}
	else if (IsA(parsetree, AlterObjectSchemaStmt))
	{
		AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;

		type = stmt->objectType;
		relation = stmt->relation;
	}
	else
		return NULL;
	/* ALTER VIEW and its kin can rename and move a table too */
	if (type != OBJECT_TABLE && type != OBJECT_FOREIGN_TABLE &&
		type != OBJECT_VIEW && type != OBJECT_MATVIEW)
		return NULL;
	return relation;
}

/*
 * How many former names of a table are kept, latest first.  A rebuild
 * needs one; the bound keeps a table's owner, renaming it over and over,
 * from growing its row, and the records and the denorm_dropped view (which
 * every role may read, and which looks each name up) with it, without end.
 */
#define DENORM_FORMER_NAMES 16

PG_FUNCTION_INFO_V1(denorm_on_table_rename);

/*
 * denorm_on_table_rename: event trigger on ddl_command_start for the ALTER
 * commands that can rename a table or move it to another schema.  For a
 * counted table the role owns (others fail in the command itself), it
 * takes the lock the command is about to take, so the name read is the
 * one the command changes, and notes that name in denorm_renamed_tables.
 */
Datum
denorm_on_table_rename(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	RangeVar   *relation;
	Oid			relid;
	char	   *schema;
	char	   *former;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by an event trigger", "denorm_on_table_rename")));
	trigdata = (EventTriggerData *) fcinfo->context;
	relation = RenamedRelation(trigdata->parsetree);
	if (relation == NULL)
		PG_RETURN_VOID();
	relid = RangeVarGetRelid(relation, NoLock, true);
	if (!OidIsValid(relid) ||
		!has_privs_of_role(GetUserId(), DenormRelationOwner(relid)) ||
		DenormCountersOfTables(nsp, list_make1_oid(relid)) == NIL)
		PG_RETURN_VOID();

	/* counted: lock as the command will, then look again */
	LockRelationOid(relid, AccessExclusiveLock);
	if (RangeVarGetRelid(relation, NoLock, true) != relid)
		PG_RETURN_VOID();		/* replaced meanwhile */
	schema = get_namespace_name(get_rel_namespace(relid));
	former = quote_qualified_identifier(schema, get_rel_name(relid));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(former);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) DenormExecAs(DenormRelationOwner(get_relname_relid("denorm_counters", nsp)),
						DENORM_PATH_SAFE, InvalidOid,
						psprintf("INSERT INTO %s.denorm_renamed_tables AS r (tbl, former_names) "
								 "VALUES ($1::pg_catalog.regclass, ARRAY[$2]) "
								 "ON CONFLICT (tbl) DO UPDATE SET former_names = "
								 "(pg_catalog.array_prepend($2, pg_catalog.array_remove(r.former_names, $2)))[1:%d]",
								 quote_identifier(get_namespace_name(nsp)), DENORM_FORMER_NAMES),
						2, argtypes, values, NULL, NULL, false);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(denorm_outer_role);

/*
 * denorm_outer_role() returns name
 *
 * The role running the command: the current role as the session set it
 * (SET ROLE included), not the owner of a SECURITY DEFINER function
 * running now, which current_user would give.  denorm_on_drop records it
 * as the role that dropped a counter.
 */
Datum
denorm_outer_role(PG_FUNCTION_ARGS)
{
	char	   *role = GetUserNameFromId(GetOuterUserId(), true);

	if (role == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(role)));
}
