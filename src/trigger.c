/*-------------------------------------------------------------------------
 *
 * trigger.c
 *	  The row and statement trigger functions that keep counters exact.
 *
 * A counted child table has one row trigger (denorm_row), one statement
 * trigger (denorm_stmt) and one TRUNCATE trigger (denorm_truncate), however
 * many counters it has: PostgreSQL queues an AFTER-trigger event per row
 * and per trigger, so a trigger per counter would make every row cost more
 * with every counter.  The row trigger serves the counters the registry
 * has for its table, read once per backend and cached per trigger OID;
 * a registry change or a relcache invalidation of the child or a parent
 * makes the next statement read them again.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/xact.h"

#include "access/heapam.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_trigger.h"
#include "executor/spi.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "postmaster/bgworker.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#if PG_VERSION_NUM >= 150000
#include "replication/logicalworker.h"
#endif

/* arguments of a 1.1 trigger: one counter's definition (see BuildTriggerCounters) */
#define DENORM_LEGACY_TRIGGER_NARGS 9

/* numeric has had infinities since PostgreSQL 14 */
#if PG_VERSION_NUM < 140000
#define numeric_is_inf(num) false
#endif

/* One counter as seen from the table a trigger fires on */
typedef struct DenormCounter
{
	int32		counter_id;
	Oid			parentrel;
	DenormTarget *target;
	int			colidx;
	AttrNumber	fk_attno;
	AttrNumber	value_attno;	/* 0 for a count */
	Oid			value_type;
	bool		numeric;		/* deltas are numeric */
	char		extreme;		/* min/max: 'n' or 'x'; 0 for count and sum */
	int16		value_len;		/* min/max: the value type's length */
	ExprState  *filter;
	ExprContext *econtext;
	/* deferred counters: which foreign key values can be a parent key */
	char		keyfit;			/* 0 all, 'i' integer range, 'n' integral
								 * numeric in range, 'c' character length */
	Oid			fktype;
	int64		keymin;
	int64		keymax;
	int32		keychars;
} DenormCounter;

/*
 * The counters a row trigger serves, cached per trigger OID: a partition
 * has its own clone of its parent's trigger, hence its own attribute
 * numbers and filter state.
 */
typedef struct DenormTriggerCounters
{
	Oid			tgoid;			/* hash key */
	bool		valid;
	Oid			relid;			/* the table the trigger fires on */
	Oid			origin;			/* the counted child it was created on */
	MemoryContext cxt;			/* holds everything below */
	int			ncounters;
	DenormCounter *counters;
	TransactionId only_in;		/* valid in this transaction only, if set */
} DenormTriggerCounters;

static HTAB *CounterHash = NULL;

/*
 * A relation changed (or, with InvalidOid, anything may have): forget what
 * the triggers it concerns resolved to.  denorm_counters changes send an
 * invalidation for the counter's child, so a new or dropped counter is
 * seen by every session's next statement.
 */
void
DenormInvalidateCounters(Oid relid)
{
	HASH_SEQ_STATUS seq;
	DenormTriggerCounters *e;
	int			i;

	if (CounterHash == NULL)
		return;
	hash_seq_init(&seq, CounterHash);
	while ((e = (DenormTriggerCounters *) hash_seq_search(&seq)) != NULL)
	{
		if (!e->valid)
			continue;
		if (relid == InvalidOid || e->relid == relid || e->origin == relid)
		{
			e->valid = false;
			continue;
		}
		for (i = 0; i < e->ncounters; i++)
			if (e->counters[i].parentrel == relid)
				e->valid = false;
	}
}

/* Finds an attribute of rel by name, or reports which counter broke */
static AttrNumber
CounterAttnum(Relation rel, const char *attname, int32 counter_id)
{
	AttrNumber	attno = get_attnum(RelationGetRelid(rel), attname);

	if (attno == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" used by denorm counter %d does not exist",
						attname, RelationGetRelationName(rel), counter_id),
				 errhint("Drop the counter with denorm_drop_counter(%d) and create it again.",
						 counter_id)));
	return attno;
}

/*
 * The table a trigger was created on: the trigger itself, or for a clone
 * on a partition, the trigger it was cloned from, up to the original.
 */
static Oid
TriggerOrigin(Oid tgoid)
{
	Relation	tgrel = table_open(TriggerRelationId, AccessShareLock);
	Oid			relid = InvalidOid;

	for (;;)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;
		Form_pg_trigger form;
		Oid			parent;

		ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(tgoid));
		scan = systable_beginscan(tgrel, TriggerOidIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "trigger %u not found", tgoid);
		form = (Form_pg_trigger) GETSTRUCT(tup);
		relid = form->tgrelid;
		parent = form->tgparentid;
		systable_endscan(scan);
		if (!OidIsValid(parent))
			break;
		tgoid = parent;
	}
	table_close(tgrel, AccessShareLock);
	return relid;
}


/* The range of an integer type */
static bool
IntegerRange(Oid type, int64 *min, int64 *max)
{
	switch (type)
	{
		case INT2OID:
			*min = PG_INT16_MIN;
			*max = PG_INT16_MAX;
			return true;
		case INT4OID:
			*min = PG_INT32_MIN;
			*max = PG_INT32_MAX;
			return true;
		case INT8OID:
			*min = PG_INT64_MIN;
			*max = PG_INT64_MAX;
			return true;
		default:
			return false;
	}
}

/*
 * A deferred counter keeps its deltas with the key as text, read back as
 * the parent key's type.  A foreign key value that no parent key can equal
 * (3000000000 for an integer key, eight characters for a varchar(5) key)
 * must count for nothing, as it does for an immediate counter, rather than
 * fail every later flush or be cut down to another parent's key.
 */
static void
SetKeyFit(DenormCounter *c, DenormRegistry *r)
{
	Oid			keytype;
	int32		keytypmod;
	Oid			keycoll;
	int64		fkmin;
	int64		fkmax;

	get_atttypetypmodcoll(r->parent, get_attnum(r->parent, r->parent_key),
						  &keytype, &keytypmod, &keycoll);
	if (IntegerRange(keytype, &c->keymin, &c->keymax))
	{
		if (IntegerRange(c->fktype, &fkmin, &fkmax))
		{
			if (fkmin < c->keymin || fkmax > c->keymax)
				c->keyfit = 'i';
		}
		else if (c->fktype == NUMERICOID)
			c->keyfit = 'n';
	}
	else if ((keytype == VARCHAROID || keytype == BPCHAROID) && keytypmod > VARHDRSZ)
	{
		c->keyfit = 'c';
		c->keychars = keytypmod - VARHDRSZ;
	}
}

/* Whether a foreign key value can equal a parent key (see SetKeyFit) */
static bool KeyFits(DenormCounter *c, Datum key);

/*
 * The same for deltas made elsewhere than a trigger: DenormKeyFitFor
 * works out once which values of fktype a deferred counter's parent key
 * can equal (NULL: all of them), DenormKeyFits tests one value.
 */
void *
DenormKeyFitFor(DenormRegistry *r, Oid fktype)
{
	DenormCounter *c = palloc0(sizeof(DenormCounter));

	c->fktype = fktype;
	SetKeyFit(c, r);
	if (c->keyfit != 0)
		return c;
	pfree(c);
	return NULL;
}

bool
DenormKeyFits(void *fit, Datum key)
{
	return fit == NULL || KeyFits((DenormCounter *) fit, key);
}


static bool
KeyFits(DenormCounter *c, Datum key)
{
	switch (c->keyfit)
	{
		case 'i':
			{
				int64		v = c->fktype == INT2OID ? DatumGetInt16(key) :
					c->fktype == INT4OID ? DatumGetInt32(key) : DatumGetInt64(key);

				return v >= c->keymin && v <= c->keymax;
			}
		case 'n':
			{
				Numeric		n = DatumGetNumeric(key);
				Datum		floor;

				if (numeric_is_nan(n) || numeric_is_inf(n))
					return false;
				floor = DirectFunctionCall1(numeric_floor, key);
				if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, key, floor)) != 0)
					return false;
				return DatumGetInt32(DirectFunctionCall2(numeric_cmp, key,
														 NumericGetDatum(int64_to_numeric(c->keymin)))) >= 0 &&
					DatumGetInt32(DirectFunctionCall2(numeric_cmp, key,
													  NumericGetDatum(int64_to_numeric(c->keymax)))) <= 0;
			}
		case 'c':
			return DatumGetInt32(DirectFunctionCall1(textlen, key)) <= c->keychars;
		default:
			return true;
	}
}

/*
 * Resolves one counter against the relation its trigger fired on, in the
 * current memory context (the entry's).  r has passed the trust check.
 */
static void
BuildCounter(DenormCounter *c, Relation rel, DenormRegistry *r, Oid nsp)
{
	Oid			keytype;
	Oid			keycollation;
	char		mode = 'i';

	c->counter_id = r->id;
	c->parentrel = r->parent;
	c->filter = NULL;
	c->econtext = NULL;
	c->fk_attno = CounterAttnum(rel, r->foreign_key, r->id);
	keytype = TupleDescAttr(RelationGetDescr(rel), c->fk_attno - 1)->atttypid;
	keycollation = TupleDescAttr(RelationGetDescr(rel), c->fk_attno - 1)->attcollation;

	c->value_attno = 0;
	c->numeric = false;
	c->extreme = 0;
	if (strcmp(r->aggregate, "sum") == 0)
	{
		c->value_attno = CounterAttnum(rel, r->value_column, r->id);
		c->value_type = TupleDescAttr(RelationGetDescr(rel), c->value_attno - 1)->atttypid;
		if (c->value_type == NUMERICOID)
			c->numeric = true;
		else if (c->value_type != INT2OID && c->value_type != INT4OID &&
				 c->value_type != INT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("value column \"%s\" of table \"%s\" used by denorm counter %d must be an integer or numeric type",
							r->value_column, RelationGetRelationName(rel), r->id)));
	}
	else if (strcmp(r->aggregate, "min") == 0 || strcmp(r->aggregate, "max") == 0)
	{
		c->value_attno = CounterAttnum(rel, r->value_column, r->id);
		c->value_type = TupleDescAttr(RelationGetDescr(rel), c->value_attno - 1)->atttypid;
		c->extreme = r->aggregate[1] == 'i' ? 'n' : 'x';
		c->value_len = TupleDescAttr(RelationGetDescr(rel), c->value_attno - 1)->attlen;
	}
	else if (strcmp(r->aggregate, "count") != 0)
		elog(ERROR, "unknown aggregate \"%s\" of denorm counter %d", r->aggregate, r->id);

	if (strcmp(r->mode, "deferred") == 0)
		mode = 'd';
	else if (strcmp(r->mode, "commit") == 0)
		mode = 'c';
	else if (strcmp(r->mode, "immediate") != 0)
		elog(ERROR, "unknown mode \"%s\" of denorm counter %d", r->mode, r->id);
	c->keyfit = 0;
	c->fktype = keytype;
	if (mode == 'd')
		SetKeyFit(c, r);
	/* where deferred deltas and the commit-time queue live */
	DenormSetPendingTable(nsp);

	c->target = DenormGetTarget(r->parent, r->parent_key, keytype, keycollation);
	c->colidx = DenormTargetColumn(c->target, r->counter_column, c->numeric, mode, r->id);
	if (c->extreme)
		DenormTargetSetExtreme(c->target, c->colidx, c->extreme, c->value_type,
							   TupleDescAttr(RelationGetDescr(rel), c->value_attno - 1)->attcollation);

	if (r->filter[0] != '\0')
	{
		int			nestlevel = DenormSetSafeSearchPath();
		Node	   *expr;

		expr = DenormTransformFilter(rel, r->filter);
		expr = (Node *) expression_planner((Expr *) expr);
		c->filter = ExecInitExpr((Expr *) expr, NULL);
		c->econtext = CreateStandaloneExprContext();
		DenormRestoreSearchPath(nestlevel);
	}
}

/*
 * Finds what a row trigger serves: the counters whose child is the table
 * the trigger was created on (a clone on a partition serves its parent's).
 * A trigger of 1.1 and before carries one counter's definition in its
 * arguments instead (until ALTER EXTENSION denorm UPDATE replaces it); it
 * serves that counter, if the registry confirms every argument.  Every
 * counter passes the trust check (DenormCheckTrigger) before it is used.
 * On a Citus node, a shard of a distributed child serves the counters the
 * nodes' copy of the registry has for its table, over the co-located
 * shards (DenormCitusRegistry, whose trust rule citus.c explains).
 */
static void
BuildTriggerCounters(DenormTriggerCounters *e, TriggerData *trigdata, Oid funcid)
{
	Trigger    *tg = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	Oid			nsp = get_func_namespace(funcid);
	List	   *ids;
	ListCell   *lc;
	MemoryContext old;
	int			i = 0;
	bool		shard = false;

	if (tg->tgnargs != 0 && tg->tgnargs != DENORM_LEGACY_TRIGGER_NARGS)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" has wrong arguments for denorm",
						tg->tgname, RelationGetRelationName(rel)),
				 errhint("Create counters with denorm_create_counter().")));

	if (e->cxt != NULL)
		MemoryContextDelete(e->cxt);
	e->cxt = AllocSetContextCreate(TopMemoryContext, "denorm trigger counters",
								   ALLOCSET_SMALL_SIZES);
	e->relid = RelationGetRelid(rel);
	e->only_in = InvalidTransactionId;
	e->ncounters = 0;
	e->counters = NULL;
	if (tg->tgnargs == DENORM_LEGACY_TRIGGER_NARGS)
	{
		e->origin = e->relid;
		ids = list_make1_int(pg_strtoint32(tg->tgargs[0]));
	}
	else
	{
		e->origin = TriggerOrigin(tg->tgoid);
		ids = DenormCountersOfChildren(nsp, list_make1_oid(e->origin));
		/* a shard of a distributed child: its counters as the nodes know them */
		if (ids == NIL && e->origin == e->relid && DenormCitusPresent() &&
			OidIsValid(DenormCitusShardOf(e->relid, NULL)))
		{
			shard = true;
			ids = DenormCitusCountersOfShard(nsp, e->relid, false);
			/*
			 * Citus copying the rows of a table it distributes in this
			 * transaction, whose counters (created before) already hold
			 * them: nothing to count, in this transaction.
			 */
			if (ids == NIL && DenormCitusDistributedNow(e->relid))
				e->only_in = GetTopTransactionId();
			else if (ids == NIL)
				DenormCitusUnregistered(e->relid, tg->tgname);
		}
	}

	old = MemoryContextSwitchTo(e->cxt);
	e->counters = palloc0(sizeof(DenormCounter) * Max(list_length(ids), 1));
	MemoryContextSwitchTo(old);
	foreach(lc, ids)
	{
		DenormRegistry r;

		if (!shard)
			DenormCheckTrigger(nsp, lfirst_int(lc), e->relid, tg->tgname,
							   tg->tgnargs == DENORM_LEGACY_TRIGGER_NARGS ? tg->tgargs : NULL, &r);
		else if (!DenormCitusRegistry(nsp, lfirst_int(lc), e->relid, false, &r))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("trigger \"%s\" on table \"%s\" does not match denorm counter %d",
							tg->tgname, RelationGetRelationName(rel), lfirst_int(lc)),
					 errdetail("denorm triggers act only as registered in denorm_counters."),
					 errhint("Create counters with denorm_create_counter().")));
		old = MemoryContextSwitchTo(e->cxt);
		BuildCounter(&e->counters[i++], rel, &r, nsp);
		MemoryContextSwitchTo(old);
		e->ncounters = i;
	}
	e->valid = true;
}

/* Returns what the firing row trigger serves */
static DenormTriggerCounters *
GetTriggerCounters(TriggerData *trigdata, Oid funcid)
{
	DenormTriggerCounters *e;
	bool		found;
	Oid			tgoid = trigdata->tg_trigger->tgoid;

	if (CounterHash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(DenormTriggerCounters);
		ctl.hcxt = TopMemoryContext;
		CounterHash = hash_create("denorm counters", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = (DenormTriggerCounters *) hash_search(CounterHash, &tgoid, HASH_ENTER, &found);
	if (!found)
	{
		e->cxt = NULL;
		e->valid = false;
	}
	if (!e->valid || e->relid != RelationGetRelid(trigdata->tg_relation) ||
		(TransactionIdIsValid(e->only_in) && !TransactionIdIsCurrentTransactionId(e->only_in)))
	{
		PG_TRY();
		{
			BuildTriggerCounters(e, trigdata, funcid);
		}
		PG_CATCH();
		{
			e->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return e;
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
 * true, or a summed value is NULL.  For a min or max the value itself is
 * recorded, as added or removed (DenormAddExtreme).
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
	if (c->keyfit != 0 && !KeyFits(c, key))
		return;					/* no parent row can have this key */

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
		if (c->extreme)
		{
			/* a min or max: the value enters or leaves the key's children */
			if (c->value_len == -1)
				value = PointerGetDatum(PG_DETOAST_DATUM_PACKED(value));
			DenormAddExtreme(c->target, c->colidx, key, value, sign > 0,
							 !RowsApplyImmediately());
			return;
		}
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

/*
 * Whether an updated row counts for the same key with the same value (or
 * not at all) before and after, so that leaving and entering again would
 * change nothing.  A min or max would otherwise have its parent locked and
 * its extreme recomputed for an UPDATE of an unrelated column of the row
 * holding it.  Keys and values are compared as stored (a binary
 * difference, such as numeric's 1.0 against 1.00, counts as a change,
 * which costs a recompute and is still exact).
 */
static bool
SameContribution(DenormCounter *c, TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
	TupleTableSlot *slots[2] = {oldslot, newslot};
	Datum		keys[2];
	Datum		values[2];
	bool		counted[2];
	int			i;

	for (i = 0; i < 2; i++)
	{
		bool		isnull;

		keys[i] = slot_getattr(slots[i], c->fk_attno, &isnull);
		counted[i] = !isnull;
		if (counted[i] && c->filter != NULL)
		{
			Datum		ok;

			c->econtext->ecxt_scantuple = slots[i];
			ok = ExecEvalExprSwitchContext(c->filter, c->econtext, &isnull);
			ResetExprContext(c->econtext);
			counted[i] = !isnull && DatumGetBool(ok);
		}
		if (counted[i])
		{
			values[i] = slot_getattr(slots[i], c->value_attno, &isnull);
			counted[i] = !isnull;
		}
		if (counted[i])
		{
			if (!c->target->keybyval && c->target->keylen == -1)
				keys[i] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(keys[i]));
			if (c->value_len == -1)
				values[i] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(values[i]));
		}
	}
	if (!counted[0] && !counted[1])
		return true;
	if (counted[0] != counted[1])
		return false;
	return datumIsEqual(keys[0], keys[1], c->target->keybyval, c->target->keylen) &&
		datumIsEqual(values[0], values[1], c->target->valbyvals[c->colidx],
					 c->target->vallens[c->colidx]);
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
	DenormTriggerCounters *e = GetTriggerCounters(trigdata, fcinfo->flinfo->fn_oid);
	int			i;

	for (i = 0; i < e->ncounters; i++)
	{
		DenormCounter *c = &e->counters[i];

		if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
			AddRow(c, trigdata->tg_trigslot, 1);
		else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
			AddRow(c, trigdata->tg_trigslot, -1);
		else if (c->extreme && SameContribution(c, trigdata->tg_trigslot, trigdata->tg_newslot))
			continue;			/* nothing of the row's min or max changed */
		else
		{
			AddRow(c, trigdata->tg_trigslot, -1);
			AddRow(c, trigdata->tg_newslot, 1);
		}
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
