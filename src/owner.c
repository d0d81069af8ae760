/*-------------------------------------------------------------------------
 *
 * owner.c
 *	  Running denorm's statements with a table owner's rights.
 *
 * denorm reads children and writes parents for whoever happens to cause
 * it: an INSERT-only writer, an administrator's reconcile, a superuser's
 * pg_cron job.  Every such statement runs as the owner of the table it
 * touches, the way PostgreSQL's foreign-key actions and REFRESH
 * MATERIALIZED VIEW do: as a security-restricted operation (the owner's
 * code can leave nothing behind for the caller), with row security not
 * forced on the owner, and with a search path that resolves names the way
 * the owner configured it, with pg_temp named explicitly last so that the
 * caller's temporary tables never stand in for the owner's.  Whatever
 * settings the owner's code changes are undone on the way back.
 *
 * Errors raised meanwhile are shown to the caller without the internal
 * statement that raised them, and without row values unless the caller
 * may read the table (as ri_triggers.c does before printing a key).
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "common/hashfn.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "catalog/pg_namespace.h"
#include "utils/varlena.h"

/* What PostgreSQL uses when nobody configured a search path */
#define DEFAULT_SEARCH_PATH "\"$user\", public"

/* Owner search paths, cached for the current transaction */
#define PATH_CACHE_SIZE 8
typedef struct PathCacheEntry
{
	Oid			owner;
	char	   *path;
} PathCacheEntry;

static PathCacheEntry PathCache[PATH_CACHE_SIZE];
static int	PathCacheCount = 0;
static LocalTransactionId PathCacheXact = InvalidLocalTransactionId;

/*
 * The search_path role and database settings give a role here: the most
 * specific of (this database, role), (any database, role) and (this
 * database, any role), as a session of that role would get it; NULL when
 * none sets one.
 */
static char *
ConfiguredSearchPath(Oid role)
{
	Oid			pairs[3][2] = {{MyDatabaseId, role}, {InvalidOid, role},
	{MyDatabaseId, InvalidOid}};
	Relation	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	char	   *result = NULL;
	int			i;

	for (i = 0; i < 3 && result == NULL; i++)
	{
		ScanKeyData keys[2];
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase,
					BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(pairs[i][0]));
		ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole,
					BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(pairs[i][1]));
		scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true,
								  NULL, 2, keys);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, Anum_pg_db_role_setting_setconfig,
										 RelationGetDescr(rel), &isnull);

			if (!isnull)
			{
				Datum	   *elems;
				bool	   *enulls;
				int			n;
				int			j;

				deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
								  TYPALIGN_INT, &elems, &enulls, &n);
				for (j = 0; j < n; j++)
				{
					char	   *s;

					if (enulls[j])
						continue;
					s = TextDatumGetCString(elems[j]);
					if (pg_strncasecmp(s, "search_path=", 12) == 0)
						result = s + 12;
				}
			}
		}
		systable_endscan(scan);
	}
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * The search path owner code runs with: the owner's configured path (or
 * PostgreSQL's default), every mention of pg_temp removed and pg_temp named
 * last, so relations and types resolve to the owner's schemas first and a
 * caller's temporary object is found only where the owner's schemas have
 * nothing of that name.  (Functions and operators are never looked up in
 * pg_temp.)
 */
static const char *
OwnerSearchPath(Oid owner)
{
	char	   *configured;
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	StringInfoData buf;
	MemoryContext old;
	int			i;

	if (PathCacheXact != MyProc->lxid)
	{
		for (i = 0; i < PathCacheCount; i++)
			pfree(PathCache[i].path);
		PathCacheCount = 0;
		PathCacheXact = MyProc->lxid;
	}
	for (i = 0; i < PathCacheCount; i++)
		if (PathCache[i].owner == owner)
			return PathCache[i].path;

	configured = ConfiguredSearchPath(owner);
	raw = pstrdup(configured ? configured : DEFAULT_SEARCH_PATH);
	initStringInfo(&buf);
	if (SplitIdentifierString(raw, ',', &names))
	{
		foreach(lc, names)
		{
			const char *name = (const char *) lfirst(lc);

			if (strcmp(name, "pg_temp") == 0 || strncmp(name, "pg_temp_", 8) == 0)
				continue;
			appendStringInfo(&buf, "%s, ", quote_identifier(name));
		}
	}
	else
		appendStringInfoString(&buf, "pg_catalog, ");
	appendStringInfoString(&buf, "pg_temp");

	if (PathCacheCount == PATH_CACHE_SIZE)
	{
		pfree(PathCache[0].path);
		memmove(&PathCache[0], &PathCache[1], sizeof(PathCacheEntry) * (PATH_CACHE_SIZE - 1));
		PathCacheCount--;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	PathCache[PathCacheCount].owner = owner;
	PathCache[PathCacheCount].path = pstrdup(buf.data);
	MemoryContextSwitchTo(old);
	pfree(buf.data);
	return PathCache[PathCacheCount++].path;
}

/*
 * DenormBecomeOwner switches to owner's rights for what follows, until
 * DenormRevertOwner(st), with the search path path says: the owner's own
 * (for statements that run user code, such as parent updates), pg_catalog
 * and pg_temp (for denorm's own statements, which run none), or the one in
 * force (to parse a filter with names as its author wrote them).  Both calls must pair up on the success path;
 * on error, transaction or subtransaction abort restores the user id,
 * security context and settings.
 */
void
DenormBecomeOwner(Oid owner, DenormPath path, DenormOwnerState *st)
{
	GetUserIdAndSecContext(&st->saved_userid, &st->saved_sec_context);
	st->nestlevel = NewGUCNestLevel();
	if (path != DENORM_PATH_KEEP)
		(void) set_config_option("search_path",
								 path == DENORM_PATH_OWNER ? OwnerSearchPath(owner) :
								 "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(owner, st->saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION |
						   SECURITY_NOFORCE_RLS);
}

void
DenormRevertOwner(DenormOwnerState *st)
{
	SetUserIdAndSecContext(st->saved_userid, st->saved_sec_context);

	/*
	 * As on abort: undo every setting changed since, not just ours.  Owner
	 * code run meanwhile (a parent's trigger, say) may have run a plain SET,
	 * which a "commit" here would let outlive it and reach the caller.
	 */
	AtEOXact_GUC(false, st->nestlevel);
}

/*
 * DenormRethrowRedacted re-raises the error being handled (call it from
 * PG_CATCH, with the memory context of the PG_TRY) as the caller viewer
 * may see it: without the internal statement and context lines, and
 * without DETAIL, which is where PostgreSQL prints row values ("Failing row
 * contains ..."), unless viewer may read table relid.
 */
void
DenormRethrowRedacted(MemoryContext cxt, Oid viewer, Oid relid)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();

	edata->internalquery = NULL;
	edata->internalpos = 0;
	edata->context = NULL;
	if (edata->detail != NULL && OidIsValid(relid) &&
		!DenormMayAccess(viewer, relid, ACL_SELECT))
	{
		edata->detail = psprintf("Row values of table \"%s\" are not shown to role \"%s\", which may not read it.",
								 get_rel_name(relid), GetUserNameFromId(viewer, false));
		edata->detail_log = NULL;
	}
	ReThrowError(edata);
}

/*
 * Whether role may do mode on table relid: it has its owner's rights, or
 * the privilege on the table itself, and no row security policy hides rows
 * from it.
 */
bool
DenormMayAccess(Oid role, Oid relid, AclMode mode)
{
	Oid			owner = DenormRelationOwner(relid);

	/* row security hiding rows from role counts as no access (ri_triggers.c) */
	if (check_enable_rls(relid, role, true) == RLS_ENABLED)
		return false;
	return has_privs_of_role(role, owner) ||
		pg_class_aclcheck(relid, role, mode) == ACLCHECK_OK;
}

/*
 * Whether a type is one of PostgreSQL's own base types (no domain, no
 * user-defined type): its input, output and comparison run no code any
 * table owner controls.  Keys must be of such types, since maintenance
 * casts and compares them with other roles' rights.
 */
bool
DenormBuiltinType(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	bool		result;

	if (!HeapTupleIsValid(tup))
		return false;
	result = ((Form_pg_type) GETSTRUCT(tup))->typtype == TYPTYPE_BASE &&
		((Form_pg_type) GETSTRUCT(tup))->typnamespace == PG_CATALOG_NAMESPACE;
	ReleaseSysCache(tup);
	return result;
}

/*
 * DenormCheckTable makes sure a counter's table is still what the counter
 * was made for before denorm reads or writes it: an ordinary or
 * partitioned table, every table below it too (a view or foreign table
 * would run code of its owner's choosing).  The lock taken keeps it so
 * until the transaction ends.
 */
void
DenormCheckTable(Oid relid, int32 counter_id, const char *what)
{
	List	   *tables;
	ListCell   *lc;

	LockRelationOid(relid, AccessShareLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("%s table of denorm counter %d no longer exists", what, counter_id),
				 errhint("Drop the counter with denorm_drop_counter(%d).", counter_id)));
	tables = find_all_inheritors(relid, AccessShareLock, NULL);
	foreach(lc, tables)
	{
		Oid			rel = lfirst_oid(lc);
		char		relkind = get_rel_relkind(rel);

		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("%s \"%s\" of denorm counter %d is not a table",
							rel == relid ? psprintf("%s table", what) : "table",
							get_rel_name(rel), counter_id),
					 errdetail("denorm reads and writes only ordinary and partitioned tables."),
					 errhint("Drop the counter with denorm_drop_counter(%d).", counter_id)));
	}
}

/*
 * Prepared statements, kept for the life of the backend and keyed by their
 * text and parameter types: each statement kind is built in one place
 * (reconcile.c, recompute.c, registry.c, apply.c), and its text names the
 * tables, columns and types it is for, so a renamed table or retyped key makes a new entry
 * rather than reusing a stale plan.  PostgreSQL's plan cache replans a kept
 * plan when the objects under it change.
 */
typedef struct KeptPlan
{
	char	   *sql;
	int			nargs;
	Oid		   *argtypes;		/* the same text may take other parameter types */
	SPIPlanPtr	plan;
} KeptPlan;

typedef struct PlanCacheEntry
{
	uint32		hash;			/* hash key: the text's hash */
	List	   *plans;			/* KeptPlans of the texts with that hash */
} PlanCacheEntry;

static HTAB *Plans = NULL;

/*
 * DenormPrepare returns the kept plan of one statement denorm built,
 * preparing it on first use, and refuses text that holds anything but
 * exactly one statement.
 */
SPIPlanPtr
DenormPrepare(const char *sql, int nargs, Oid *argtypes)
{
	PlanCacheEntry *e;
	uint32		h = hash_bytes((const unsigned char *) sql, (int) strlen(sql));
	bool		found;
	ListCell   *lc;
	KeptPlan   *kept;
	SPIPlanPtr	plan;
	MemoryContext old;

	if (Plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint32);
		ctl.entrysize = sizeof(PlanCacheEntry);
		ctl.hcxt = TopMemoryContext;
		Plans = hash_create("denorm statements", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = (PlanCacheEntry *) hash_search(Plans, &h, HASH_ENTER, &found);
	if (!found)
		e->plans = NIL;
	foreach(lc, e->plans)
	{
		kept = (KeptPlan *) lfirst(lc);
		if (strcmp(kept->sql, sql) == 0 && kept->nargs == nargs &&
			(nargs == 0 || memcmp(kept->argtypes, argtypes, sizeof(Oid) * nargs) == 0))
			return kept->plan;
	}

	if (list_length(raw_parser(sql, RAW_PARSE_DEFAULT)) != 1)
		elog(ERROR, "denorm statement is not exactly one statement");
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare denorm statement: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	old = MemoryContextSwitchTo(TopMemoryContext);
	kept = palloc(sizeof(KeptPlan));
	kept->sql = pstrdup(sql);
	kept->nargs = nargs;
	kept->argtypes = palloc(sizeof(Oid) * Max(nargs, 1));
	if (nargs > 0)
		memcpy(kept->argtypes, argtypes, sizeof(Oid) * nargs);
	kept->plan = plan;
	e->plans = lappend(e->plans, kept);
	MemoryContextSwitchTo(old);
	return plan;
}

/*
 * DenormExecAs runs one statement denorm built (prepared and kept by
 * DenormPrepare, under the search path it runs with, so that the kept plan
 * stays valid) as owner, with the search path path says, in the caller's
 * SPI connection (with snap, in that snapshot), and returns SPI_processed;
 * SPI_tuptable holds what it returned.  Errors reach the caller redacted as
 * for a reader of relid (DenormRethrowRedacted).  Every statement denorm
 * runs on another role's table goes through here.
 */
uint64
DenormExecAs(Oid owner, DenormPath path, Oid relid, const char *sql, int nargs,
			 Oid *argtypes, Datum *values, const char *nulls, Snapshot snap,
			 bool read_only)
{
	return DenormExecAsChecked(owner, path, relid, sql, nargs, argtypes, values,
							   nulls, snap, InvalidSnapshot, read_only, 0);
}

/*
 * The same, with a crosscheck snapshot (as foreign-key checks use at
 * REPEATABLE READ): a row the statement finds in snap and would change,
 * but which crosscheck does not see, is a serialization failure; options
 * DENORM_COUNTER_WRITE marks a statement that writes counter columns.
 */
/* How many statements writing counter columns are running (DENORM_COUNTER_WRITE) */
static int	CounterWrites = 0;

bool
DenormWritingCounters(void)
{
	return CounterWrites > 0;
}

/*
 * Rows of a counter column written from another node (see
 * denorm_counter_write in citus.c) whose guard has not run yet.
 */
static int	MarkedWrites = 0;

void
DenormMarkCounterWrite(void)
{
	MarkedWrites++;
}

/* Lets one marked row through the guard, if there is one */
bool
DenormTakeMarkedWrite(void)
{
	if (MarkedWrites <= 0)
		return false;
	MarkedWrites--;
	return true;
}

/* at transaction end, whatever was running is over */
void
DenormResetCounterWrites(void)
{
	CounterWrites = 0;
	MarkedWrites = 0;
}

uint64
DenormExecAsChecked(Oid owner, DenormPath path, Oid relid, const char *sql, int nargs,
					Oid *argtypes, Datum *values, const char *nulls, Snapshot snap,
					Snapshot crosscheck, bool read_only, int options)
{
	volatile bool writes = (options & DENORM_COUNTER_WRITE) != 0;
	DenormOwnerState st;
	MemoryContext here = CurrentMemoryContext;
	Oid			viewer = GetUserId();

	DenormBecomeOwner(owner, path, &st);
	if (writes)
		CounterWrites++;
	PG_TRY();
	{
		SPIPlanPtr	plan = DenormPrepare(sql, nargs, argtypes);
		int			rc;

		if (snap != NULL)
			rc = SPI_execute_snapshot(plan, values, nulls, snap, crosscheck,
									  read_only, !read_only, 0);
		else
			rc = SPI_execute_plan(plan, values, nulls, read_only, 0);
		if (rc < 0)
			elog(ERROR, "denorm statement failed: %s", SPI_result_code_string(rc));
	}
	PG_CATCH();
	{
		if (writes)
			CounterWrites--;
		DenormRethrowRedacted(here, viewer, relid);
	}
	PG_END_TRY();
	if (writes)
		CounterWrites--;
	DenormRevertOwner(&st);
	return SPI_processed;
}
