/*-------------------------------------------------------------------------
 *
 * denorm.c
 *	  Module initialisation: settings, transaction callbacks and the
 *	  executor hook that guarantees pending deltas never outlive their
 *	  statement.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "tcop/utility.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/syscache.h"

PG_MODULE_MAGIC;

int			denorm_reconcile_batch_size = 10000;

/*
 * How many ExecutorFinish calls are in progress: AFTER triggers of a query
 * fire inside its ExecutorFinish, so this tells the deltas of a statement
 * from those of queries nested inside its triggers.
 */
int			DenormQueryLevel = 0;
double		denorm_drift_alert_ratio = 0.001;

/* What a write to a counter column by anything but denorm does */
int			denorm_counter_writes = DENORM_WRITES_IGNORE;

static const struct config_enum_entry counter_writes_options[] = {
	{"ignore", DENORM_WRITES_IGNORE, false},
	{"error", DENORM_WRITES_ERROR, false},
	{"allow", DENORM_WRITES_ALLOW, false},
	{NULL, 0, false}
};

static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

void		_PG_init(void);

/*
 * After the executor has fired a query's AFTER triggers, apply whatever the
 * row triggers left pending at this subtransaction level.  Normally the
 * statement trigger has already done so; this covers statements whose
 * statement trigger does not fire for the table the rows went to.
 */
static void
DenormExecutorFinish(QueryDesc *queryDesc)
{
	DenormQueryLevel++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);

		if (DenormHavePending())
			DenormApplyPending();
	}
	PG_FINALLY();
	{
		DenormQueryLevel--;
	}
	PG_END_TRY();
}

/*
 * COPY fires its AFTER triggers without the executor's finish step; if the
 * statement trigger that applies them did not fire (COPY into a
 * partitioned table whose partition carries the counter), apply them when
 * the COPY is done.
 */
#if PG_VERSION_NUM >= 140000
#define UTILITY_ARGS pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
static void
DenormProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
#else
#define UTILITY_ARGS pstmt, queryString, context, params, queryEnv, dest, qc
static void
DenormProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
#endif
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(UTILITY_ARGS);
	else
		standard_ProcessUtility(UTILITY_ARGS);

	if (IsA(pstmt->utilityStmt, CopyStmt) && DenormHavePending())
		DenormApplyPending();
}

/*
 * Pending deltas belong to the transaction that made them.  On abort they
 * are dropped; a commit that still holds some means a statement ended
 * without applying them, which would be silent drift, so it is refused.
 */
static void
DenormXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (DenormHavePending())
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("denorm counter deltas of this transaction were not applied"),
						 errdetail("A statement changed a counted table but no denorm statement trigger ran for it."),
						 errhint("Run denorm_reconcile() after fixing the triggers reported by the denorm_status view.")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			DenormDiscardPending(InvalidSubTransactionId, InvalidSubTransactionId, true);
			DenormForgetDroppedPartitions();
			DenormForgetRenames();
			DenormResetCounterWrites();
			DenormQueryLevel = 0;
			break;
	}
}

/*
 * A rolled-back subtransaction (ROLLBACK TO SAVEPOINT, an exception block)
 * takes its pending deltas with it; a committed one hands them to its
 * parent.
 */
static void
DenormSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		DenormDiscardPending(mySubid, parentSubid, false);
		DenormForgetEmptied(mySubid);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		DenormReassignPending(mySubid, parentSubid);
}

/* A schema was renamed (or dropped): cached parent names may be stale */
static void
DenormNamespaceCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	DenormInvalidateTargets(InvalidOid);
	DenormInvalidateParentCounters(InvalidOid);
}

/* Cached counter definitions and targets follow their relations' changes */
static void
DenormRelcacheCallback(Datum arg, Oid relid)
{
	DenormInvalidateCounters(relid);
	DenormInvalidateTargets(relid);
	DenormInvalidateParentCounters(relid);
}

void
_PG_init(void)
{
	DefineCustomIntVariable("denorm.reconcile_batch_size",
							"Parent rows checked per batch by denorm_reconcile.",
							NULL,
							&denorm_reconcile_batch_size,
							10000, 1, 10000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomRealVariable("denorm.drift_alert_ratio",
							 "Share of drifted rows above which denorm_reconcile raises an alert.",
							 NULL,
							 &denorm_drift_alert_ratio,
							 0.001, 0.0, 1.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	DefineCustomEnumVariable("denorm.counter_writes",
							 "What a write to a counter column by anything but denorm does: ignore (the counter keeps its value), error, or allow (the write is drift).",
							 NULL,
							 &denorm_counter_writes,
							 DENORM_WRITES_IGNORE,
							 counter_writes_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("denorm.apply_at_commit",
							 "Applies the deltas of immediate counters when the transaction commits, as mode 'commit' does.",
							 NULL,
							 &denorm_apply_at_commit,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("denorm");
#else
	EmitWarningsOnPlaceholders("denorm");
#endif

	RegisterXactCallback(DenormXactCallback, NULL);
	RegisterSubXactCallback(DenormSubXactCallback, NULL);
	CacheRegisterRelcacheCallback(DenormRelcacheCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, DenormNamespaceCallback, (Datum) 0);

	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = DenormExecutorFinish;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = DenormProcessUtility;
}

/*
 * Run what follows with search_path = pg_catalog, pg_temp, so that names
 * resolved or printed meanwhile cannot be captured by objects planted in
 * the caller's path.  Returns the GUC nest level to pass to
 * DenormRestoreSearchPath, which restores every setting as it was.
 */
int
DenormSetSafeSearchPath(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
DenormRestoreSearchPath(int nestlevel)
{
	/*
	 * As on abort: undo every setting changed since, not just ours.  User
	 * code run meanwhile (a parent's trigger, say) may have run a plain SET
	 * search_path, which a "commit" here would let outlive it and capture
	 * the unqualified names of whoever runs next.
	 */
	AtEOXact_GUC(false, nestlevel);
}

PG_FUNCTION_INFO_V1(denorm_settings);

/*
 * denorm_settings() returns the reconcile settings.  SQL code calls it
 * rather than current_setting() so that the library is loaded, and the
 * settings validated, before they are read.
 */
Datum
denorm_settings(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int32GetDatum(denorm_reconcile_batch_size);
	values[1] = Float8GetDatum(denorm_drift_alert_ratio);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
