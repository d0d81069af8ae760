/*-------------------------------------------------------------------------
 *
 * denorm.h
 *	  Declarations shared by the denorm extension's C files.
 *
 * The files, by what they do:
 *   denorm.c     module setup: settings, transaction callbacks, hooks
 *   registry.c   denorm_counters: reading it, the trust check, writing it
 *   trigger.c    the child triggers (row, statement, commit-time)
 *   pending.c    the pending-delta set the row trigger fills
 *   apply.c      writing pending deltas to parent rows
 *   parent.c     the trigger on a counter's parent (new rows, key changes)
 *   keylock.c    locks on parent keys (parent rows appearing, orphan deltas)
 *   recompute.c  recomputing a counter (TRUNCATE, partitions)
 *   reconcile.c  the statements maintenance runs, and its C steps
 *   owner.c      running statements with a table owner's rights
 *   filter.c     parsing, checking and printing filters
 *   overflow.c   counter values that would not fit their column
 *   extension.c  what DROP EXTENSION denorm does first
 *   rename.c     following renames of the columns counters use
 *   dropped.c    what recreating a counter dropped with its table needs
 *   reads.c      exact counter values for roles that may read the parent
 *   copy.c       copied columns: their triggers, fan-out and heal
 *   copy_registry.c  denorm_copies: writing it
 *   citus.c      counters over Citus distributed tables: shards and the nodes' registry
 *
 *-------------------------------------------------------------------------
 */
#ifndef DENORM_H
#define DENORM_H

#include "postgres.h"

#include "access/attnum.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "executor/spi.h"
#include "utils/acl.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/typcache.h"

/* Most counter columns one parent relation can carry for one key type */
#define DENORM_MAX_TARGET_COLUMNS 64

/*
 * A target is where deltas land: one parent relation addressed through one
 * key type (the type of the child's foreign key column).  Counters that share
 * a target combine their columns into one UPDATE per parent row.  Targets are
 * never freed (pending entries point at them); their derived fields are
 * refreshed when the parent's relcache entry is invalidated.  Columns are
 * known by attribute number and their names read again on refresh, so a
 * renamed counter column or parent key keeps its target, and deltas queued
 * before the rename (mode 'commit') are applied under the new name.
 */
typedef struct DenormTarget
{
	Oid			parentrel;
	Oid			keytype;
	Oid			keycollation;
	bool		valid;			/* names and owner below are current */
	char	   *parent_sql;		/* quoted, schema-qualified parent name */
	AttrNumber	key_attnum;		/* the parent key column */
	char	   *key_sql;		/* its quoted name */
	Oid			parentkeytype;	/* its type (keytype is the foreign key's) */
	Oid			parentkeycoll;	/* and collation */
	Oid			owner;			/* owner of the parent: updates run as it */
	int16		keylen;
	bool		keybyval;
	FmgrInfo	hashproc;		/* key type's hash function */
	FmgrInfo	eqproc;			/* key type's equality function */
	FmgrInfo	cmpproc;		/* key type's btree comparison */
	int			ncolumns;
	AttrNumber	attnums[DENORM_MAX_TARGET_COLUMNS]; /* counter columns */
	char	   *columns[DENORM_MAX_TARGET_COLUMNS]; /* their quoted names */
	Oid			coltypes[DENORM_MAX_TARGET_COLUMNS];	/* their base types */
	int32		coltypmods[DENORM_MAX_TARGET_COLUMNS];	/* and typmods */
	bool		numeric[DENORM_MAX_TARGET_COLUMNS]; /* delta is numeric */
	bool		deferred[DENORM_MAX_TARGET_COLUMNS];	/* goes to denorm_pending */
	bool		commit[DENORM_MAX_TARGET_COLUMNS];	/* applied at commit */
	int32		counter_ids[DENORM_MAX_TARGET_COLUMNS];
	/*
	 * min/max columns: 'n' (min) or 'x' (max), 0 for a count or sum; the
	 * value type's btree comparison (with the value column's collation),
	 * length and passing.  Their entries carry extremes, not deltas.
	 */
	char		extreme[DENORM_MAX_TARGET_COLUMNS];
	Oid			valtypes[DENORM_MAX_TARGET_COLUMNS];
	Oid			valcolls[DENORM_MAX_TARGET_COLUMNS];
	int16		vallens[DENORM_MAX_TARGET_COLUMNS];
	bool		valbyvals[DENORM_MAX_TARGET_COLUMNS];
	FmgrInfo   *valcmps[DENORM_MAX_TARGET_COLUMNS];
	struct DenormTarget *next;
} DenormTarget;

/* apply.c */
extern DenormTarget *DenormGetTarget(Oid parentrel, const char *parent_key,
									 Oid keytype, Oid keycollation);
extern int	DenormTargetColumn(DenormTarget *target, const char *column,
							   bool numeric, char mode, int32 counter_id);
extern void DenormSetPendingTable(Oid nspid);
extern void DenormAddDelta(DenormTarget *target, int colidx, Datum key,
						   bool numeric, int64 idelta, Datum ndelta,
						   bool allow_commit);
extern void DenormTargetSetExtreme(DenormTarget *target, int colidx, char kind,
								   Oid valtype, Oid valcoll);
extern void DenormAddExtreme(DenormTarget *target, int colidx, Datum key, Datum value,
							 bool added, bool allow_commit);
extern void DenormApplyPending(void);
extern void DenormApplyCommit(void);
extern void DenormCommitEventFired(void);
extern bool DenormHavePending(void);
extern void DenormDiscardPending(SubTransactionId subxid, SubTransactionId parent,
								 bool all);
extern void DenormReassignPending(SubTransactionId from, SubTransactionId to);
extern void DenormForgetCounterPending(int32 counter_id);
extern Datum DenormLocalDelta(int32 counter_id, const char *keytext);

extern void DenormInvalidateTargets(Oid relid);

/* registry.c: a row of denorm_counters, as text */
typedef struct DenormRegistry
{
	int32		id;
	Oid			parent;
	Oid			child;
	char	   *counter_column;
	char	   *foreign_key;
	char	   *parent_key;
	char	   *aggregate;
	char	   *value_column;	/* '' for a count */
	char	   *filter;			/* '' for none */
	char	   *mode;
} DenormRegistry;

extern Oid	DenormRelationOwner(Oid relid);
extern bool DenormInChildTree(Oid relid, Oid child);
extern bool DenormReadRegistry(Oid nsp, int32 id, DenormRegistry *r);
extern List *DenormCountersOfChildren(Oid nsp, List *children);
extern List *DenormCountersOfTables(Oid nsp, List *tables);
extern void DenormRegistrySetNames(Oid nsp, DenormRegistry *r, bool new_filter);
extern void DenormCheckAuthority(DenormRegistry *r, int32 id);
extern void DenormCheckTrigger(Oid nsp, int32 id, Oid relid, const char *tgname,
							   char **args, DenormRegistry *r);

/* citus.c: counters over Citus distributed tables */
extern bool DenormCitusPresent(void);
extern char DenormCitusKind(Oid relid, int64 *colocation);
extern Oid	DenormCitusShardOf(Oid relid, int64 *shardid);
extern bool DenormCitusDistributedNow(Oid shard);
extern List *DenormCitusCountersOfShard(Oid nsp, Oid shard, bool parent_side);
extern bool DenormCitusRegistry(Oid nsp, int32 id, Oid shard, bool parent_side,
								DenormRegistry *r);
extern void DenormCitusUnregistered(Oid shard, const char *tgname) pg_attribute_noreturn();
extern void DenormCitusCheckNew(DenormRegistry *r);
extern bool DenormCitusPublish(Oid nsp, int32 id);

/* parent.c */
extern void DenormInvalidateParentCounters(Oid relid);

/* keylock.c */
extern uint32 DenormKeyLockHash(Oid valuetype, Oid valuecoll, Oid othertype, Oid othercoll,
								Datum value);
extern void DenormLockKey(Oid parentrel, uint32 hash, bool parent_side);

/* recompute.c */
extern void DenormRecomputeCounter(Oid nsp, int32 id, DenormRegistry *r, bool emptied);
extern void DenormForgetEmptied(SubTransactionId subxid);
extern List *DenormTakeEmptiedNotes(void);
extern void DenormRestoreEmptiedNotes(List *notes);
extern void DenormForgetDroppedPartitions(void);
extern void DenormLeavingSubXact(SubTransactionId subxid, SubTransactionId parent, bool commit);
extern void DenormCheckLeaving(void);


/* owner.c: running statements with a table owner's rights */
typedef struct DenormOwnerState
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			nestlevel;
} DenormOwnerState;

/* the search path owner code runs with */
typedef enum DenormPath
{
	DENORM_PATH_SAFE,			/* pg_catalog, pg_temp: denorm's own statements */
	DENORM_PATH_OWNER,			/* the owner's configured path, pg_temp last */
	DENORM_PATH_KEEP			/* the one in force */
} DenormPath;

extern void DenormBecomeOwner(Oid owner, DenormPath path, DenormOwnerState *st);
extern bool DenormBuiltinType(Oid typid);
extern void DenormRevertOwner(DenormOwnerState *st);
extern void DenormRethrowRedacted(MemoryContext cxt, Oid viewer, Oid relid) pg_attribute_noreturn();
extern bool DenormMayAccess(Oid role, Oid relid, AclMode mode);
extern void DenormCheckTable(Oid relid, int32 counter_id, const char *what);
extern SPIPlanPtr DenormPrepare(const char *sql, int nargs, Oid *argtypes);

/*
 * An option of DenormExecAsChecked: the statement writes counter columns
 * as denorm keeps them, which their guard triggers let through
 * (DenormWritingCounters).
 */
#define DENORM_COUNTER_WRITE (1 << 30)
extern bool DenormWritingCounters(void);
extern void DenormResetCounterWrites(void);
extern void DenormMarkCounterWrite(void);
extern bool DenormTakeMarkedWrite(void);
extern uint64 DenormExecAs(Oid owner, DenormPath path, Oid relid, const char *sql,
						   int nargs, Oid *argtypes, Datum *values, const char *nulls,
						   Snapshot snap, bool read_only);
extern uint64 DenormExecAsChecked(Oid owner, DenormPath path, Oid relid, const char *sql,
								  int nargs, Oid *argtypes, Datum *values, const char *nulls,
								  Snapshot snap, Snapshot crosscheck, bool read_only,
								  int options);

/* reconcile.c: what the statements on a counter's tables are built from */
typedef struct DenormNames
{
	char	   *parent;			/* quoted, schema-qualified parent */
	char	   *child;			/* quoted, schema-qualified child */
	char	   *pending;		/* quoted, schema-qualified denorm_pending */
	Oid			pending_owner;	/* owner of denorm_pending */
	const char *key;			/* quoted parent key column */
	const char *col;			/* quoted counter column */
	const char *fk;			/* quoted foreign key column */
	char	   *agg;			/* count(*), sum(x.value), min(...), max(...) */
	char	   *filter;			/* checked filter, or true */
	Oid			keytypid;
	char	   *keytype;		/* qualified parent key type with typmod */
	Oid			fktypid;
	char	   *fktype;			/* qualified foreign key type */
	char		extreme;		/* min/max: 'n' or 'x'; else 0 */
	Oid			valtypid;		/* min/max: the counter column's type */
	char	   *valtype;		/* and its qualified name with typmod */
} DenormNames;

extern void DenormResolveNames(Oid nsp, DenormRegistry *r, DenormNames *n);
extern void DenormChildSums(DenormRegistry *r, DenormNames *n, Datum *range,
							const char *rangenulls, Snapshot snap, Datum *out,
							bool *outnull, MemoryContext cxt);

/* filter.c */
extern Node *DenormTransformFilter(Relation rel, const char *filter);
extern char *DenormDeparseFilter(Relation rel, Node *expr);
extern char *DenormSafeFilter(Oid child, const char *filter);

/* overflow.c */
extern void DenormColumnType(Oid relid, const char *column, Oid *typid, int32 *typmod);
extern void DenormAttributeType(Oid relid, AttrNumber attnum, Oid *typid, int32 *typmod);
extern char *DenormFitsSql(const char *col, const char *delta, bool delta_numeric,
						   Oid coltype, int32 coltypmod);
extern char *DenormNewValueSql(const char *col, const char *delta);
extern bool DenormNumericFits(Datum value, Oid coltype, int32 coltypmod);
extern void DenormOverflowError(int32 counter_id, Oid parentrel, const char *column,
								const char *keycol, const char *keytext,
								const char *value, bool quiet) pg_attribute_noreturn();

/* rename.c */
extern void DenormForgetRenames(void);

/* copy.c */
extern void DenormInvalidateCopies(Oid relid);
extern void DenormResetCopies(void);

/* trigger.c */
extern void DenormInvalidateCounters(Oid relid);
extern void *DenormKeyFitFor(DenormRegistry *r, Oid fktype);
extern bool DenormKeyFits(void *fit, Datum key);

/* denorm.c */
extern int	DenormQueryLevel;
extern int	denorm_reconcile_batch_size;
extern double denorm_drift_alert_ratio;
extern bool denorm_apply_at_commit;
extern bool denorm_apply_at_commit_valid;
extern int	denorm_counter_writes;

#define DENORM_WRITES_IGNORE 0
#define DENORM_WRITES_ERROR 1
#define DENORM_WRITES_ALLOW 2

/* the settings in force, or an error for one whose value is invalid */
extern void DenormSettingError(const char *name) pg_attribute_noreturn();
extern int	DenormReconcileBatchSize(void);
extern double DenormDriftAlertRatio(void);
extern bool DenormCounterWritesValid(void);
extern int	DenormCounterWrites(void);
extern int	DenormSetSafeSearchPath(void);
extern void DenormRestoreSearchPath(int nestlevel);

/* denorm.apply_at_commit, or an error while its value is invalid */
static inline bool
DenormApplyAtCommit(void)
{
	if (unlikely(!denorm_apply_at_commit_valid))
		DenormSettingError("denorm.apply_at_commit");
	return denorm_apply_at_commit;
}

#endif							/* DENORM_H */
