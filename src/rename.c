/*-------------------------------------------------------------------------
 *
 * rename.c
 *	  Following ALTER TABLE ... RENAME COLUMN of the columns counters use.
 *
 * The registry knows a counter's tables by OID, so renaming a table needs
 * nothing, but it knows their columns by name: the parent's counter column
 * and key, the child's foreign key and value column, and the columns its
 * filter reads, which is stored as canonical text.  A rename of any of
 * them is followed in two steps around the command:
 *
 *   ddl_command_start  the tables the rename reaches (the named table and,
 *                      unless ONLY, every table below it: RENAME recurses)
 *                      are locked as the command is about to lock them, and
 *                      the counters that use the column are noted, with
 *                      their filters parsed while the old name still
 *                      resolves (a parsed filter knows its columns by
 *                      attribute number);
 *   ddl_command_end    the noted counters get the new name, and their
 *                      filters are printed again from the parsed form, so
 *                      the stored text names the new column.
 *
 * The registry is written in the transaction of the rename, so a rollback
 * takes both back.  The end step runs before the DDL guard (event triggers
 * fire in the order of their names, and denorm_guard_column_rename_end
 * sorts before denorm_guard_ddl), which then finds the counter intact; a
 * rename that was not followed for any reason is still refused there.
 * A rename on tables no counter uses costs one look at the registry; on a
 * counted table, a column no counter uses costs a read of its counters and
 * a parse of the filters on it, and changes nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "commands/event_trigger.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "access/sysattr.h"

/* One counter a rename reaches, and which of its names it changes */
typedef struct RenamedCounter
{
	int32		id;
	bool		counter_column; /* the parent's columns */
	bool		parent_key;
	bool		foreign_key;	/* the child's */
	bool		value_column;
	Node	   *filter;			/* parsed before the rename, if it reads the
								 * column; else NULL */
} RenamedCounter;

/*
 * The rename under way, noted when its command starts, in
 * TopTransactionContext (forgotten when the transaction ends, and replaced
 * when the next ALTER starts: a command that failed after its start left
 * it behind).
 */
typedef struct ColumnRename
{
	Node	   *parsetree;		/* the RenameStmt: tells its end from others' */
	char	   *newname;
	List	   *tables;			/* the tables the rename reaches */
	List	   *attnums;		/* the column's attribute number in each */
	List	   *counters;		/* RenamedCounters */
} ColumnRename;

static ColumnRename *Renaming = NULL;

void
DenormForgetRenames(void)
{
	Renaming = NULL;			/* it lived in TopTransactionContext */
}

/*
 * Parses a counter's stored filter against its child with the rules of
 * creation (as the child's owner, under a safe search_path) and returns
 * it, or NULL when it no longer parses (a column renamed while event
 * triggers were off, say): then the counter is not followed and the DDL
 * guard refuses the rename with its own message, rather than this step
 * failing it with a parse error.  The parse runs in a subtransaction, so
 * that what it leaves behind on failure is released.
 */
static Node *
ParseStoredFilter(Relation rel, const char *filter)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Node	   *volatile expr = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int			nestlevel = DenormSetSafeSearchPath();

		expr = DenormTransformFilter(rel, filter);
		DenormRestoreSearchPath(nestlevel);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		expr = NULL;
	}
	PG_END_TRY();
	return expr;
}

/* The attribute number of the renamed column in table relid, or 0 */
static AttrNumber
RenamedAttnum(ColumnRename *cr, Oid relid)
{
	ListCell   *lt;
	ListCell   *la;

	forboth(lt, cr->tables, la, cr->attnums)
		if (lfirst_oid(lt) == relid)
			return (AttrNumber) lfirst_int(la);
	return InvalidAttrNumber;
}

/*
 * Notes what counter id needs when column oldname of the tables in cr is
 * renamed: which of its names are that column, and its filter parsed, if
 * the filter reads it, in TopTransactionContext.  Returns NULL when the
 * rename does not touch it.
 */
static RenamedCounter *
NoteCounter(Oid nsp, int32 id, ColumnRename *cr, const char *oldname)
{
	DenormRegistry r;
	RenamedCounter *rc;
	bool		parent_renamed;
	bool		child_renamed;
	bool		any;

	if (!DenormReadRegistry(nsp, id, &r))
		return NULL;
	rc = MemoryContextAllocZero(TopTransactionContext, sizeof(RenamedCounter));
	parent_renamed = list_member_oid(cr->tables, r.parent);
	child_renamed = list_member_oid(cr->tables, r.child);
	rc->id = id;
	rc->counter_column = parent_renamed && strcmp(r.counter_column, oldname) == 0;
	rc->parent_key = parent_renamed && strcmp(r.parent_key, oldname) == 0;
	rc->foreign_key = child_renamed && strcmp(r.foreign_key, oldname) == 0;
	rc->value_column = child_renamed && strcmp(r.value_column, oldname) == 0;
	if (child_renamed && r.filter[0] != '\0')
	{
		Relation	rel = table_open(r.child, AccessShareLock);
		Node	   *expr = ParseStoredFilter(rel, r.filter);
		Bitmapset  *attnos = NULL;

		if (expr == NULL)
		{
			/* broken already: not followed, and refused by the guard */
			table_close(rel, AccessShareLock);
			pfree(rc);
			return NULL;
		}
		else
		{
			pull_varattnos(expr, 1, &attnos);
			if (bms_is_member(RenamedAttnum(cr, r.child) - FirstLowInvalidHeapAttributeNumber,
							  attnos))
			{
				MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

				rc->filter = copyObject(expr);
				MemoryContextSwitchTo(old);
			}
		}
		table_close(rel, AccessShareLock);
	}
	any = rc->counter_column || rc->parent_key || rc->foreign_key ||
		rc->value_column || rc->filter != NULL;
	if (!any)
	{
		pfree(rc);
		return NULL;
	}
	return rc;
}

PG_FUNCTION_INFO_V1(denorm_on_rename_start);

/*
 * denorm_on_rename_start: event trigger on ddl_command_start for the ALTER
 * commands that can rename a table's column.  For a RENAME COLUMN of a
 * table the role owns (others fail in the command itself) that reaches a
 * counter's parent or child, it takes the lock the rename is about to
 * take, in the order the rename takes it (the named table, then the
 * tables below it), so nothing changes the columns between this note and
 * the rename, and notes the counters that use the column.
 */
Datum
denorm_on_rename_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	RenameStmt *stmt;
	Oid			relid;
	List	   *tables;
	List	   *ids;
	ListCell   *lc;
	ColumnRename *cr;
	MemoryContext old;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by an event trigger", "denorm_on_rename_start")));
	trigdata = (EventTriggerData *) fcinfo->context;
	Renaming = NULL;
	if (!IsA(trigdata->parsetree, RenameStmt))
		PG_RETURN_VOID();
	stmt = (RenameStmt *) trigdata->parsetree;
	if (stmt->renameType != OBJECT_COLUMN || stmt->relation == NULL ||
		stmt->subname == NULL || stmt->newname == NULL)
		PG_RETURN_VOID();
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid) ||
		!has_privs_of_role(GetUserId(), DenormRelationOwner(relid)))
		PG_RETURN_VOID();
	tables = stmt->relation->inh ? find_all_inheritors(relid, NoLock, NULL) :
		list_make1_oid(relid);
	if (DenormCountersOfTables(nsp, tables) == NIL)
		PG_RETURN_VOID();

	/* counted: lock as the rename will, then look again */
	LockRelationOid(relid, AccessExclusiveLock);
	if (RangeVarGetRelid(stmt->relation, NoLock, true) != relid)
		PG_RETURN_VOID();		/* replaced meanwhile: the guard decides */
	tables = stmt->relation->inh ? find_all_inheritors(relid, AccessExclusiveLock, NULL) :
		list_make1_oid(relid);
	ids = DenormCountersOfTables(nsp, tables);

	old = MemoryContextSwitchTo(TopTransactionContext);
	cr = palloc0(sizeof(ColumnRename));
	cr->parsetree = trigdata->parsetree;
	cr->newname = pstrdup(stmt->newname);
	cr->tables = list_copy(tables);
	MemoryContextSwitchTo(old);
	foreach(lc, tables)
	{
		AttrNumber	attnum = get_attnum(lfirst_oid(lc), stmt->subname);

		if (attnum == InvalidAttrNumber)
			PG_RETURN_VOID();	/* the rename fails: no such column */
		old = MemoryContextSwitchTo(TopTransactionContext);
		cr->attnums = lappend_int(cr->attnums, attnum);
		MemoryContextSwitchTo(old);
	}
	foreach(lc, ids)
	{
		RenamedCounter *rc = NoteCounter(nsp, lfirst_int(lc), cr, stmt->subname);

		if (rc == NULL)
			continue;
		old = MemoryContextSwitchTo(TopTransactionContext);
		cr->counters = lappend(cr->counters, rc);
		MemoryContextSwitchTo(old);
	}
	if (cr->counters != NIL)
		Renaming = cr;
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(denorm_on_rename_end);

/*
 * denorm_on_rename_end: event trigger on ddl_command_end for the same
 * commands.  When the command ending is the rename noted at its start,
 * and every table it reached now has the new name at the attribute number
 * noted, the counters noted get the new name for each of their names that
 * was the old one, and their filters are printed again from the parsed
 * form (names resolved under a safe search_path, as at creation).
 */
Datum
denorm_on_rename_end(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	ColumnRename *cr = Renaming;
	ListCell   *lt;
	ListCell   *la;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by an event trigger", "denorm_on_rename_end")));
	trigdata = (EventTriggerData *) fcinfo->context;
	Renaming = NULL;
	if (cr == NULL || cr->parsetree != trigdata->parsetree)
		PG_RETURN_VOID();
	forboth(lt, cr->tables, la, cr->attnums)
	{
		char	   *attname = get_attname(lfirst_oid(lt), (AttrNumber) lfirst_int(la), true);

		if (attname == NULL || strcmp(attname, cr->newname) != 0)
			PG_RETURN_VOID();	/* not what was noted: the guard decides */
	}
	foreach(lc, cr->counters)
	{
		RenamedCounter *rc = (RenamedCounter *) lfirst(lc);
		DenormRegistry r;

		if (!DenormReadRegistry(nsp, rc->id, &r))
			continue;
		if (rc->counter_column)
			r.counter_column = cr->newname;
		if (rc->parent_key)
			r.parent_key = cr->newname;
		if (rc->foreign_key)
			r.foreign_key = cr->newname;
		if (rc->value_column)
			r.value_column = cr->newname;
		if (rc->filter != NULL)
		{
			Relation	rel = table_open(r.child, AccessShareLock);
			int			nestlevel = DenormSetSafeSearchPath();

			r.filter = DenormDeparseFilter(rel, rc->filter);
			DenormRestoreSearchPath(nestlevel);
			table_close(rel, AccessShareLock);
		}
		DenormRegistrySetNames(nsp, &r, rc->filter != NULL);
	}
	PG_RETURN_VOID();
}
