/*-------------------------------------------------------------------------
 *
 * trigger.c
 *	  The row and statement trigger functions that keep counters exact.
 *
 * A counter's definition travels in its triggers' arguments:
 *   0 counter id, 1 parent table (qualified), 2 counter column,
 *   3 foreign key column, 4 parent key column, 5 aggregate ('count' or
 *   'sum'), 6 value column ('' for count), 7 filter ('' for none), 8 mode.
 * so a trigger never reads denorm_counters.  What the arguments resolve to
 * is cached per trigger OID (partitions have their own cloned triggers,
 * hence their own attribute numbers and filter state) and rebuilt when a
 * relcache invalidation touches the child or the parent.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "postmaster/bgworker.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#if PG_VERSION_NUM >= 150000
#include "replication/logicalworker.h"
#endif

#define DENORM_TRIGGER_NARGS 9

/* numeric has had infinities since PostgreSQL 14 */
#if PG_VERSION_NUM < 140000
#define numeric_is_inf(num) false
#endif

typedef struct DenormCounter
{
	Oid			tgoid;			/* hash key */
	bool		valid;
	int32		counter_id;
	Oid			childrel;
	Oid			parentrel;
	DenormTarget *target;
	int			colidx;
	AttrNumber	fk_attno;
	AttrNumber	value_attno;	/* 0 for a count */
	Oid			value_type;
	bool		numeric;		/* deltas are numeric */
	MemoryContext cxt;			/* holds the filter state below */
	ExprState  *filter;
	ExprContext *econtext;
} DenormCounter;

static HTAB *CounterHash = NULL;

/* A relation changed: forget what counters on it resolved to */
void
DenormInvalidateCounters(Oid relid)
{
	HASH_SEQ_STATUS seq;
	DenormCounter *c;

	if (CounterHash == NULL)
		return;
	hash_seq_init(&seq, CounterHash);
	while ((c = (DenormCounter *) hash_seq_search(&seq)) != NULL)
		if (relid == InvalidOid || c->childrel == relid || c->parentrel == relid)
			c->valid = false;
}

/* Finds an attribute of rel by name, or reports which counter broke */
static AttrNumber
CounterAttnum(Relation rel, const char *attname, const char *counter_id)
{
	AttrNumber	attno = get_attnum(RelationGetRelid(rel), attname);

	if (attno == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" used by denorm counter %s does not exist",
						attname, RelationGetRelationName(rel), counter_id),
				 errhint("Drop the counter with denorm_drop_counter(%s) and create it again.",
						 counter_id)));
	return attno;
}

/*
 * Resolves a trigger's arguments against the relation it fired on.  Called
 * on the first firing in a backend and after invalidations; everything it
 * builds lives in the entry's own memory context.
 */
static void
BuildCounter(DenormCounter *c, TriggerData *trigdata, Oid funcid)
{
	Trigger    *tg = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	char	  **args = tg->tgargs;
	Oid			keytype;
	Oid			keycollation;
	char		mode = 'i';
	DenormRegistry reg;
	MemoryContext old;

	if (tg->tgnargs != DENORM_TRIGGER_NARGS)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" has wrong arguments for a denorm counter",
						tg->tgname, RelationGetRelationName(rel)),
				 errhint("Create counters with denorm_create_counter().")));

	if (c->cxt != NULL)
		MemoryContextDelete(c->cxt);
	c->cxt = AllocSetContextCreate(TopMemoryContext, "denorm counter",
								   ALLOCSET_SMALL_SIZES);
	c->filter = NULL;
	c->econtext = NULL;
	c->childrel = RelationGetRelid(rel);
	c->counter_id = pg_strtoint32(args[0]);
	/* trust the arguments only as far as the registry confirms them */
	DenormCheckTrigger(get_func_namespace(funcid), c->counter_id, c->childrel,
					   tg->tgname, args, &reg);
	c->parentrel = reg.parent;

	c->fk_attno = CounterAttnum(rel, args[3], args[0]);
	keytype = TupleDescAttr(RelationGetDescr(rel), c->fk_attno - 1)->atttypid;
	keycollation = TupleDescAttr(RelationGetDescr(rel), c->fk_attno - 1)->attcollation;

	c->value_attno = 0;
	c->numeric = false;
	if (strcmp(args[5], "sum") == 0)
	{
		c->value_attno = CounterAttnum(rel, args[6], args[0]);
		c->value_type = TupleDescAttr(RelationGetDescr(rel), c->value_attno - 1)->atttypid;
		if (c->value_type == NUMERICOID)
			c->numeric = true;
		else if (c->value_type != INT2OID && c->value_type != INT4OID &&
				 c->value_type != INT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("value column \"%s\" of table \"%s\" used by denorm counter %s must be an integer or numeric type",
							args[6], RelationGetRelationName(rel), args[0])));
	}
	else if (strcmp(args[5], "count") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("unknown aggregate \"%s\" in arguments of trigger \"%s\"",
						args[5], tg->tgname)));

	if (strcmp(args[8], "deferred") == 0)
		mode = 'd';
	else if (strcmp(args[8], "commit") == 0)
		mode = 'c';
	else if (strcmp(args[8], "immediate") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("unknown mode \"%s\" in arguments of trigger \"%s\"",
						args[8], tg->tgname)));
	/* where deferred deltas and the commit-time queue live */
	DenormSetPendingTable(get_func_namespace(funcid));

	c->target = DenormGetTarget(c->parentrel, args[4], keytype, keycollation);
	c->colidx = DenormTargetColumn(c->target, args[2], c->numeric, mode,
								   pg_strtoint32(args[0]));

	if (args[7][0] != '\0')
	{
		int			nestlevel = DenormSetSafeSearchPath();
		Node	   *expr;

		old = MemoryContextSwitchTo(c->cxt);
		expr = DenormTransformFilter(rel, args[7]);
		expr = (Node *) expression_planner((Expr *) expr);
		c->filter = ExecInitExpr((Expr *) expr, NULL);
		c->econtext = CreateStandaloneExprContext();
		MemoryContextSwitchTo(old);
		DenormRestoreSearchPath(nestlevel);
	}
	c->valid = true;
}

/* Returns the resolved counter of the firing trigger */
static DenormCounter *
GetCounter(TriggerData *trigdata, Oid funcid)
{
	DenormCounter *c;
	bool		found;
	Oid			tgoid = trigdata->tg_trigger->tgoid;

	if (CounterHash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(DenormCounter);
		ctl.hcxt = TopMemoryContext;
		CounterHash = hash_create("denorm counters", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	c = (DenormCounter *) hash_search(CounterHash, &tgoid, HASH_ENTER, &found);
	if (!found)
	{
		c->cxt = NULL;
		c->valid = false;
	}
	if (!c->valid || c->childrel != RelationGetRelid(trigdata->tg_relation))
	{
		PG_TRY();
		{
			BuildCounter(c, trigdata, funcid);
		}
		PG_CATCH();
		{
			c->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return c;
}

/* True in processes where statement triggers never fire */
static bool
RowsApplyImmediately(void)
{
#if PG_VERSION_NUM >= 150000
	return IsLogicalWorker();
#else
	return MyBgworkerEntry != NULL &&
		strcmp(MyBgworkerEntry->bgw_type, "logical replication worker") == 0;
#endif
}

/*
 * Adds the contribution of one row version (sign +1 for a new version, -1
 * for an old one): nothing when the foreign key is NULL, the filter is not
 * true, or a summed value is NULL.
 */
static void
AddRow(DenormCounter *c, TupleTableSlot *slot, int sign)
{
	Datum		key;
	bool		isnull;

	key = slot_getattr(slot, c->fk_attno, &isnull);
	if (isnull)
		return;

	if (c->filter != NULL)
	{
		Datum		ok;

		c->econtext->ecxt_scantuple = slot;
		ok = ExecEvalExprSwitchContext(c->filter, c->econtext, &isnull);
		ResetExprContext(c->econtext);
		if (isnull || !DatumGetBool(ok))
			return;
	}

	if (!c->target->keybyval && c->target->keylen == -1)
		key = PointerGetDatum(PG_DETOAST_DATUM_PACKED(key));

	if (c->value_attno == 0)
	{
		DenormAddDelta(c->target, c->colidx, key, false, sign, (Datum) 0, !RowsApplyImmediately());
		return;
	}

	{
		Datum		value = slot_getattr(slot, c->value_attno, &isnull);
		int64		v;

		if (isnull)
			return;
		if (c->numeric)
		{
			Numeric		num = DatumGetNumeric(value);

			/*
			 * NaN or infinity would stick in the sum (it never subtracts
			 * out), so none may enter.  One leaving got in before the
			 * counter or behind its triggers: it subtracts nothing, and
			 * reconcile, which heals non-finite sums outright, does the rest.
			 */
			if ((numeric_is_nan(num) || numeric_is_inf(num)) && sign < 0)
				return;
			if (numeric_is_nan(num) || numeric_is_inf(num))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("cannot add %s to the denorm sum in column %s of table %s",
								numeric_is_nan(num) ? "NaN" : "an infinite value",
								c->target->columns[c->colidx], c->target->parent_sql),
						 errdetail("A sum cache holds finite values only.")));
			if (sign < 0)
				value = DirectFunctionCall1(numeric_uminus, value);
			DenormAddDelta(c->target, c->colidx, key, true, 0, value, !RowsApplyImmediately());
			return;
		}
		switch (c->value_type)
		{
			case INT2OID:
				v = DatumGetInt16(value);
				break;
			case INT4OID:
				v = DatumGetInt32(value);
				break;
			default:
				v = DatumGetInt64(value);
				break;
		}
		/* -INT64_MIN is no int64: that one is passed as a numeric */
		if (sign < 0 && pg_sub_s64_overflow(0, v, &v))
			DenormAddDelta(c->target, c->colidx, key, true, 0,
						   DirectFunctionCall1(numeric_uminus,
											   NumericGetDatum(int64_to_numeric(v))),
						   !RowsApplyImmediately());
		else
			DenormAddDelta(c->target, c->colidx, key, false, v, (Datum) 0,
						   !RowsApplyImmediately());
	}
}

/* Rejects a call that is not an AFTER trigger of the expected level */
static TriggerData *
CheckTriggerCall(FunctionCallInfo fcinfo, const char *funcname, bool row)
{
	TriggerData *trigdata;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger", funcname),
				 errhint("Create counters with denorm_create_counter().")));
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		(row && !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event)) ||
		(!row && !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event)) ||
		TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER INSERT, UPDATE or DELETE FOR EACH %s",
						funcname, row ? "ROW" : "STATEMENT"),
				 errhint("Create counters with denorm_create_counter().")));
	return trigdata;
}

PG_FUNCTION_INFO_V1(denorm_row_trigger);

/*
 * denorm_row_trigger: AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW.
 * Records the row's effect on its parents; the statement trigger applies.
 */
Datum
denorm_row_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = CheckTriggerCall(fcinfo, "denorm_row_trigger", true);
	DenormCounter *c = GetCounter(trigdata, fcinfo->flinfo->fn_oid);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		AddRow(c, trigdata->tg_trigslot, 1);
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		AddRow(c, trigdata->tg_trigslot, -1);
	else
	{
		AddRow(c, trigdata->tg_trigslot, -1);
		AddRow(c, trigdata->tg_newslot, 1);
	}

	if (RowsApplyImmediately())
		DenormApplyPending();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(denorm_stmt_trigger);

/*
 * denorm_stmt_trigger: AFTER INSERT OR UPDATE OR DELETE FOR EACH STATEMENT.
 * Applies the statement's pending deltas; when a table carries several
 * counters the first of their statement triggers does all the work.
 */
Datum
denorm_stmt_trigger(PG_FUNCTION_ARGS)
{
	(void) CheckTriggerCall(fcinfo, "denorm_stmt_trigger", false);
	DenormApplyPending();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(denorm_commit_trigger);

/*
 * denorm_commit_trigger: the deferred constraint trigger on
 * denorm_commit_queue, AFTER INSERT FOR EACH ROW DEFERRABLE INITIALLY
 * DEFERRED.  The first commit-time delta of a transaction inserts one row;
 * when the transaction commits (or SET CONSTRAINTS makes it fire earlier)
 * this applies every commit-time delta in one global order, and removes
 * the row.
 */
Datum
denorm_commit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger", "denorm_commit_trigger")));
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		strcmp(RelationGetRelationName(trigdata->tg_relation), "denorm_commit_queue") != 0 ||
		RelationGetNamespace(trigdata->tg_relation) != get_func_namespace(fcinfo->flinfo->fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER INSERT FOR EACH ROW on denorm_commit_queue",
						"denorm_commit_trigger")));
	DenormCommitEventFired();
	DenormApplyCommit();
	simple_heap_delete(trigdata->tg_relation, &trigdata->tg_trigtuple->t_self);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(denorm_apply);

/*
 * denorm_apply() returns void
 *
 * Applies this transaction's commit-time deltas now, as commit would, for
 * code that must read the counter columns themselves before it commits
 * (in the spirit of SET CONSTRAINTS ALL IMMEDIATE).
 */
Datum
denorm_apply(PG_FUNCTION_ARGS)
{
	DenormApplyCommit();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(denorm_local_delta);

/*
 * denorm_local_delta(counter_id integer, parent_key text) returns numeric
 *
 * What this transaction's commit-time deltas not yet applied add to one
 * parent row of a counter; denorm_value adds it to what it reads.
 */
Datum
denorm_local_delta(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(DenormLocalDelta(PG_GETARG_INT32(0),
									 text_to_cstring(PG_GETARG_TEXT_PP(1))));
}
