/*-------------------------------------------------------------------------
 *
 * extension.c
 *	  What DROP EXTENSION denorm does before the extension goes.
 *
 * An event trigger on ddl_command_start for DROP EXTENSION runs for every
 * extension dropped, and only the parse tree says which: PL/pgSQL cannot
 * see it, so this C function reads it and, when denorm is among the
 * extensions dropped, runs denorm_before_drop_extension (SQL, in the
 * extension's schema) to flush pending deltas and unschedule denorm's
 * pg_cron jobs while the extension is still whole.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(denorm_on_drop_extension);

/*
 * denorm_on_drop_extension() returns event_trigger
 *
 * Acts only on DROP EXTENSION naming denorm (extension names are unique in
 * a database, so the name is this extension).  Passes on whether the drop
 * cascades: without CASCADE the drop is refused while counters exist, and
 * nothing should be flushed or unscheduled for a drop that will fail.  The
 * work runs in the dropping transaction, so a failed flush fails the DROP
 * and a failed DROP undoes the flush and the unscheduling.
 */
Datum
denorm_on_drop_extension(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	ListCell   *lc;
	bool		self = false;
	Oid			nsp;
	Oid			argtypes[1] = {BOOLOID};
	Datum		values[1];
	char	   *sql;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"denorm_on_drop_extension\" was not called by event trigger manager")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (trigdata->parsetree == NULL || !IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		PG_RETURN_VOID();
	foreach(lc, stmt->objects)
	{
		Node	   *name = (Node *) lfirst(lc);

		if (IsA(name, String) && strcmp(strVal(name), "denorm") == 0)
			self = true;
	}
	if (!self)
		PG_RETURN_VOID();

	nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	sql = psprintf("SELECT %s.denorm_before_drop_extension($1)",
				   quote_identifier(get_namespace_name(nsp)));
	values[0] = BoolGetDatum(stmt->behavior == DROP_CASCADE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "denorm_before_drop_extension did not run");
	SPI_finish();
	PG_RETURN_VOID();
}
