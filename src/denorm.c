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

#include "access/parallel.h"
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
double		denorm_drift_alert_ratio = 0.001;
bool		denorm_apply_at_commit = false;

/*
 * How many ExecutorFinish calls are in progress: AFTER triggers of a query
 * fire inside its ExecutorFinish, so this tells the deltas of a statement
 * from those of queries nested inside its triggers.
 */
int			DenormQueryLevel = 0;

/* What a write to a counter column by anything but denorm does */
int			denorm_counter_writes = DENORM_WRITES_IGNORE;

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
	List	   *outer_notes;

	if (!IsA(pstmt->utilityStmt, TruncateStmt))
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(UTILITY_ARGS);
		else
			standard_ProcessUtility(UTILITY_ARGS);
		if (IsA(pstmt->utilityStmt, CopyStmt) && DenormHavePending())
			DenormApplyPending();
		return;
	}

	/* a TRUNCATE's notes of emptied partitions are its own (recompute.c) */
	outer_notes = DenormTakeEmptiedNotes();
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(UTILITY_ARGS);
		else
			standard_ProcessUtility(UTILITY_ARGS);
	}
	PG_FINALLY();
	{
		DenormRestoreEmptiedNotes(outer_notes);
	}
	PG_END_TRY();
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
			DenormCheckLeaving();
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
			DenormResetCopies();
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
		DenormLeavingSubXact(mySubid, parentSubid, false);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		DenormReassignPending(mySubid, parentSubid);
		DenormLeavingSubXact(mySubid, parentSubid, true);
	}
}

/* A schema was renamed (or dropped): cached parent names may be stale */
static void
DenormNamespaceCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	DenormInvalidateTargets(InvalidOid);
	DenormInvalidateParentCounters(InvalidOid);
	DenormInvalidateCopies(InvalidOid);
}

/*
 * A role's memberships or attributes changed: the rights a copy rests on
 * (checked when its definition is read) are checked again
 */
static void
DenormRolesCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	DenormInvalidateCopies(InvalidOid);
}

/* Cached counter definitions and targets follow their relations' changes */
static void
DenormRelcacheCallback(Datum arg, Oid relid)
{
	DenormInvalidateCounters(relid);
	DenormInvalidateTargets(relid);
	DenormInvalidateParentCounters(relid);
	DenormInvalidateCopies(relid);
}

/*
 * Settings.
 *
 * Before a session loads the library, denorm.* names are placeholders:
 * PostgreSQL takes any value for them (SET, ALTER DATABASE or ALTER ROLE
 * ... SET, postgresql.conf) and, for settings of a fixed type, throws away
 * with a WARNING the ones that do not fit once the library defines them,
 * leaving the default in force with nothing else to show for it.  So
 * denorm's settings are kept as text, which every value fits: while the
 * library is being loaded (and while a parallel worker takes over its
 * leader's values) any text is taken as it is, and marked invalid when it
 * does not parse; afterwards a value that does not parse is refused at
 * once, with the messages PostgreSQL gives for its own settings.  An
 * invalid value stays in force, with the GUC machinery's usual stacking
 * (SET LOCAL, RESET, function SET clauses), and whatever depends on it
 * raises an error naming it (DenormSettingError) instead of using the
 * default.
 */
typedef enum SettingKind
{
	SETTING_INT,
	SETTING_REAL,
	SETTING_BOOL,
	SETTING_ENUM
} SettingKind;

/* A parsed value, kept by the GUC machinery as the value's "extra" */
typedef struct SettingValue
{
	bool		valid;
	int			ival;			/* an integer's value, or an enum's */
	double		rval;
	bool		bval;
} SettingValue;

typedef struct DenormSetting
{
	const char *name;
	SettingKind kind;
	int			imin;
	int			imax;
	double		rmin;
	double		rmax;
	const char *const *names;	/* an enum's values, NULL-terminated, in order */
	char	   *text;			/* the value in force, as text */
	bool		valid;			/* it parsed */
} DenormSetting;

static DenormSetting BatchSizeSetting = {
	.name = "denorm.reconcile_batch_size", .kind = SETTING_INT,
	.imin = 1, .imax = 10000000, .valid = true
};
static DenormSetting AlertRatioSetting = {
	.name = "denorm.drift_alert_ratio", .kind = SETTING_REAL,
	.rmin = 0.0, .rmax = 1.0, .valid = true
};
static DenormSetting AtCommitSetting = {
	.name = "denorm.apply_at_commit", .kind = SETTING_BOOL, .valid = true
};
/* in the order of DENORM_WRITES_IGNORE, _ERROR and _ALLOW */
static const char *const CounterWritesNames[] = {"ignore", "error", "allow", NULL};
static DenormSetting CounterWritesSetting = {
	.name = "denorm.counter_writes", .kind = SETTING_ENUM, .names = CounterWritesNames,
	.valid = true
};

bool		denorm_apply_at_commit_valid = true;

/* True while _PG_init defines the settings */
static bool DefiningSettings = false;

/* An enum setting's values, as a list to show */
static char *
EnumNames(const DenormSetting *s)
{
	StringInfoData names;
	int			i;

	initStringInfo(&names);
	for (i = 0; s->names[i] != NULL; i++)
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", s->names[i]);
	return names.data;
}

/*
 * Parses value for setting s into v.  On failure returns false with the
 * message PostgreSQL gives for its own settings in *msg (NULL for its
 * generic "invalid value for parameter"), and why the value is refused, as
 * a sentence, in *why.
 */
static bool
ParseSetting(const DenormSetting *s, const char *value, SettingValue *v,
			 char **msg, char **why)
{
	const char *hint = NULL;

	memset(v, 0, sizeof(SettingValue));
	*msg = NULL;
	*why = NULL;
	switch (s->kind)
	{
		case SETTING_INT:
			if (!parse_int(value, &v->ival, 0, &hint))
			{
				*why = pstrdup(_("It is not an integer."));
				return false;
			}
			if (v->ival < s->imin || v->ival > s->imax)
			{
				*msg = psprintf(_("%d is outside the valid range for parameter \"%s\" (%d .. %d)"),
								v->ival, s->name, s->imin, s->imax);
				*why = psprintf(_("%d is outside the valid range (%d .. %d)."),
								v->ival, s->imin, s->imax);
				return false;
			}
			break;
		case SETTING_REAL:
			if (!parse_real(value, &v->rval, 0, &hint))
			{
				*why = pstrdup(_("It is not a number."));
				return false;
			}
			if (v->rval < s->rmin || v->rval > s->rmax)
			{
				*msg = psprintf(_("%g is outside the valid range for parameter \"%s\" (%g .. %g)"),
								v->rval, s->name, s->rmin, s->rmax);
				*why = psprintf(_("%g is outside the valid range (%g .. %g)."),
								v->rval, s->rmin, s->rmax);
				return false;
			}
			break;
		case SETTING_BOOL:
			if (!parse_bool(value, &v->bval))
			{
				*msg = psprintf(_("parameter \"%s\" requires a Boolean value"), s->name);
				*why = pstrdup(_("It is not a Boolean value."));
				return false;
			}
			break;
		case SETTING_ENUM:
			{
				int			i;

				for (i = 0; s->names[i] != NULL; i++)
					if (pg_strcasecmp(value, s->names[i]) == 0)
						break;
				if (s->names[i] == NULL)
				{
					*why = psprintf(_("It is none of %s."), EnumNames(s));
					return false;
				}
				v->ival = i;
			}
			break;
	}
	v->valid = true;
	return true;
}

/*
 * The check hook of every denorm setting: see above.  A valid value is
 * also put in the form PostgreSQL shows for a setting of that type (so
 * SHOW gives 5000, 0.5 and on as before).
 */
static bool
CheckSetting(DenormSetting *s, char **newval, void **extra)
{
	SettingValue v;
	SettingValue *kept;
	char	   *msg;
	char	   *why;

	if (*newval == NULL)
		return false;
	if (ParseSetting(s, *newval, &v, &msg, &why))
	{
		char		buf[64];
		char	   *shown;

		if (s->kind == SETTING_INT)
			snprintf(buf, sizeof(buf), "%d", v.ival);
		else if (s->kind == SETTING_REAL)
			snprintf(buf, sizeof(buf), "%g", v.rval);
		else if (s->kind == SETTING_ENUM)
			snprintf(buf, sizeof(buf), "%s", s->names[v.ival]);
		else
			snprintf(buf, sizeof(buf), "%s", v.bval ? "on" : "off");
		if (strcmp(buf, *newval) != 0)
		{
			shown = strdup(buf);
			if (shown == NULL)
				return false;
			free(*newval);
			*newval = shown;
		}
	}
	else if (!DefiningSettings && !InitializingParallelWorker)
	{
		if (msg != NULL)
			GUC_check_errmsg("%s", msg);
		if (s->kind == SETTING_ENUM)
			GUC_check_errhint("Available values: %s.", EnumNames(s));
		return false;
	}
	kept = (SettingValue *) malloc(sizeof(SettingValue));
	if (kept == NULL)
		return false;
	*kept = v;
	*extra = kept;
	return true;
}

static bool
CheckBatchSize(char **newval, void **extra, GucSource source)
{
	return CheckSetting(&BatchSizeSetting, newval, extra);
}

static bool
CheckAlertRatio(char **newval, void **extra, GucSource source)
{
	return CheckSetting(&AlertRatioSetting, newval, extra);
}

static bool
CheckAtCommit(char **newval, void **extra, GucSource source)
{
	return CheckSetting(&AtCommitSetting, newval, extra);
}

static bool
CheckCounterWrites(char **newval, void **extra, GucSource source)
{
	return CheckSetting(&CounterWritesSetting, newval, extra);
}

static void
AssignBatchSize(const char *newval, void *extra)
{
	SettingValue *v = (SettingValue *) extra;

	BatchSizeSetting.valid = v->valid;
	if (v->valid)
		denorm_reconcile_batch_size = v->ival;
}

static void
AssignAlertRatio(const char *newval, void *extra)
{
	SettingValue *v = (SettingValue *) extra;

	AlertRatioSetting.valid = v->valid;
	if (v->valid)
		denorm_drift_alert_ratio = v->rval;
}

static void
AssignAtCommit(const char *newval, void *extra)
{
	SettingValue *v = (SettingValue *) extra;

	AtCommitSetting.valid = v->valid;
	denorm_apply_at_commit_valid = v->valid;
	if (v->valid)
		denorm_apply_at_commit = v->bval;
}

static void
AssignCounterWrites(const char *newval, void *extra)
{
	SettingValue *v = (SettingValue *) extra;

	CounterWritesSetting.valid = v->valid;
	if (v->valid)
		denorm_counter_writes = v->ival;
}

/*
 * DenormSettingError reports that setting name holds a value that was
 * taken before the library could check it, for whatever depends on that
 * setting.  Without context lines: where it was noticed does not matter.
 */
void
DenormSettingError(const char *name)
{
	DenormSetting *s = strcmp(name, BatchSizeSetting.name) == 0 ? &BatchSizeSetting :
		strcmp(name, AlertRatioSetting.name) == 0 ? &AlertRatioSetting :
		strcmp(name, CounterWritesSetting.name) == 0 ? &CounterWritesSetting : &AtCommitSetting;
	const char *value = s->text ? s->text : "";
	SettingValue v;
	char	   *msg;
	char	   *why;

	(void) ParseSetting(s, value, &v, &msg, &why);
	error_context_stack = NULL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for parameter \"%s\": \"%s\"", s->name, value),
			 errdetail("%s The value was set before this session loaded the denorm library, which could not refuse it then; denorm does not use the default in its place.",
					   why ? why : ""),
			 errhint("Set it again in this session (SET %s = ...), or correct it where it is configured: ALTER DATABASE ... RESET %s, ALTER ROLE ... RESET %s, or postgresql.conf.",
					 s->name, s->name, s->name)));
	pg_unreachable();
}

/* The settings in force, or an error for one whose value is invalid */
int
DenormReconcileBatchSize(void)
{
	if (!BatchSizeSetting.valid)
		DenormSettingError(BatchSizeSetting.name);
	return denorm_reconcile_batch_size;
}

double
DenormDriftAlertRatio(void)
{
	if (!AlertRatioSetting.valid)
		DenormSettingError(AlertRatioSetting.name);
	return denorm_drift_alert_ratio;
}

/* Whether denorm.counter_writes holds a valid value (then denorm_counter_writes) */
bool
DenormCounterWritesValid(void)
{
	return CounterWritesSetting.valid;
}

int
DenormCounterWrites(void)
{
	if (!CounterWritesSetting.valid)
		DenormSettingError(CounterWritesSetting.name);
	return denorm_counter_writes;
}

void
_PG_init(void)
{
	DefiningSettings = true;
	DefineCustomStringVariable("denorm.reconcile_batch_size",
							   "Parent rows checked per batch by denorm_reconcile (1 to 10000000).",
							   NULL,
							   &BatchSizeSetting.text,
							   "10000",
							   PGC_USERSET, 0,
							   CheckBatchSize, AssignBatchSize, NULL);
	DefineCustomStringVariable("denorm.drift_alert_ratio",
							   "Share of drifted rows above which denorm_reconcile raises an alert (0 to 1).",
							   NULL,
							   &AlertRatioSetting.text,
							   "0.001",
							   PGC_USERSET, 0,
							   CheckAlertRatio, AssignAlertRatio, NULL);
#if PG_VERSION_NUM >= 150000
	DefineCustomStringVariable("denorm.counter_writes",
							   "What a write to a counter column by anything but denorm does: ignore (the counter keeps its value), error, or allow (the write is drift).",
							   NULL,
							   &CounterWritesSetting.text,
							   "ignore",
							   PGC_USERSET, 0,
							   CheckCounterWrites, AssignCounterWrites, NULL);
	DefineCustomStringVariable("denorm.apply_at_commit",
							   "Applies the deltas of immediate counters when the transaction commits, as mode 'commit' does.",
							   NULL,
							   &AtCommitSetting.text,
							   "off",
							   PGC_USERSET, 0,
							   CheckAtCommit, AssignAtCommit, NULL);
	MarkGUCPrefixReserved("denorm");
#else
	EmitWarningsOnPlaceholders("denorm");
#endif
	DefiningSettings = false;

	RegisterXactCallback(DenormXactCallback, NULL);
	RegisterSubXactCallback(DenormSubXactCallback, NULL);
	CacheRegisterRelcacheCallback(DenormRelcacheCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, DenormNamespaceCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, DenormRolesCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, DenormRolesCallback, (Datum) 0);

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
 * denorm_settings() returns the reconcile settings, and
 * denorm_settings(setting text) the same for a caller that depends on the
 * one named only (the other is NULL when its value is invalid).  SQL code
 * calls it rather than current_setting() so that the library is loaded,
 * and the settings checked, before they are read: a setting whose value
 * is invalid is an error (DenormSettingError).
 */
Datum
denorm_settings(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bool		check_batch = true;
	bool		check_ratio = true;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (PG_NARGS() > 0 && !PG_ARGISNULL(0))
	{
		char	   *only = text_to_cstring(PG_GETARG_TEXT_PP(0));

		if (strcmp(only, BatchSizeSetting.name) != 0 &&
			strcmp(only, AlertRatioSetting.name) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unrecognized configuration parameter \"%s\"", only)));
		check_batch = strcmp(only, BatchSizeSetting.name) == 0;
		check_ratio = !check_batch;
	}
	if (check_batch || BatchSizeSetting.valid)
		values[0] = Int32GetDatum(DenormReconcileBatchSize());
	else
		nulls[0] = true;
	if (check_ratio || AlertRatioSetting.valid)
		values[1] = Float8GetDatum(DenormDriftAlertRatio());
	else
		nulls[1] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
