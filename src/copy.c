/*-------------------------------------------------------------------------
 *
 * copy.c
 *	  Copied columns: a parent's value kept on its children (mode 'sync')
 *	  or taken once when a child row gets its parent (mode 'snapshot').
 *
 * A copy is a row of denorm_copies and two triggers, both carrying its id:
 *  - on the child, denorm_copy_<id> (BEFORE INSERT OR UPDATE OF the foreign
 *    key and the copy column, FOR EACH ROW) sets the copy column from the
 *    parent row the foreign key names;
 *  - on the parent, for sync copies only, denorm_copy_<id>_source (AFTER
 *    INSERT OR DELETE OR UPDATE OF the source column and the parent key,
 *    FOR EACH ROW) sets the copy on every child of the row's key, in one
 *    UPDATE per parent row (the fan-out), and denorm_copy_<id>_truncate
 *    (AFTER TRUNCATE FOR EACH STATEMENT, on the parent and each of its
 *    partitions) sets it to NULL on the children left without a parent.
 *
 * Lock order: a parent row before its children.  A parent UPDATE holds
 * the parent row's lock when its fan-out locks the children.  A child
 * write reads its parent row FOR SHARE, which waits for an uncommitted
 * change of the source value (a plain foreign-key check takes only KEY
 * SHARE, which does not conflict with a change of a non-key column), so:
 *  - a child written while its parent is being changed waits for that
 *    change, and at READ COMMITTED reads the committed new value; at
 *    REPEATABLE READ and SERIALIZABLE, a parent changed since the
 *    snapshot is a serialization failure;
 *  - a parent change that comes second waits for the child writers that
 *    hold the row FOR SHARE, and its fan-out then runs with a snapshot
 *    taken after they committed (at REPEATABLE READ and SERIALIZABLE with
 *    the transaction snapshot as crosscheck, as foreign-key actions do, so
 *    a child it cannot see is a serialization failure, never left behind).
 * A child whose parent row does not exist (no foreign key) and a parent row
 * taking that key lock the key in conflicting modes first (keylock.c).
 *
 * The fan-out's own UPDATE fires the child trigger for every row it
 * writes; that call recognises the value the fan-out is writing and
 * returns at once, and counts the rows for the progress it reports in
 * pg_stat_activity.
 *
 * The child trigger corrects a user's write of the copy column: in a sync
 * copy it takes the parent's value again, in a snapshot copy it keeps the
 * value the row had.  Reconcile heals a row by updating its copy column to
 * itself under a flag that makes the trigger read the parent again, with
 * the same locks as a writer.
 *
 * Trust: a trigger acts only as denorm_copies says (its id, its table),
 * read once per backend and again after any relcache invalidation; the
 * parent is read as its owner, the child written as its owner; both owners
 * must still have the rights a copy needs.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

/* rows between two progress reports of a fan-out */
#define COPY_PROGRESS_ROWS 10000

/* a row of denorm_copies, with the statements built from it */
typedef struct CopyEntry
{
	int32		id;
	Oid			child;
	Oid			parent;
	char	   *copy_column;
	char	   *source_column;
	char	   *foreign_key;
	char	   *parent_key;
	bool		sync;
	Oid			fktype;
	Oid			fkcoll;
	Oid			keytype;
	Oid			keycoll;
	Oid			srctype;
	Oid			copytype;
	char	   *lookup_sql;		/* the parent's value for a foreign key */
	char	   *fanout_sql;		/* set the copy on the children of a key */
	char	   *fanout_null_sql;	/* the same for a NULL value */
	char	   *cast_sql;		/* a source value as the copy column's type */
	char	   *keyed_sql;		/* the source value of the row holding a key */
	char	   *exists_sql;		/* whether a row holds a foreign key's value */
	char	   *child_name;		/* for messages */
	char	   *parent_name;
	Oid			trusted_child;	/* the last table a child trigger was found right on */
	Oid			trusted_parent; /* and a parent trigger */
	LocalTransactionId checked_lxid;	/* the transaction that checked the parent */
	struct CopyEntry *cached;	/* (in a caller's copy) the entry it came from */
	struct CopyEntry *next;
} CopyEntry;

static MemoryContext CopyCxt = NULL;
static CopyEntry *Copies = NULL;
static bool CopiesStale = false;

/* the fan-out in progress in this backend, if any (they nest) */
typedef struct FanOut
{
	int32		id;
	Datum		value;			/* the copy value it writes */
	bool		isnull;
	int16		typlen;
	bool		typbyval;
	uint64		rows;
	const char *child_name;
	Oid			relid;			/* the last table its rows came from */
	AttrNumber	fkatt;			/* and the columns there */
	AttrNumber	copyatt;
	struct FanOut *outer;
} FanOut;

static FanOut *CurrentFanOut = NULL;

/* the copy whose rows reconcile is healing, or 0 */
static int32 HealingCopy = 0;

/*
 * The row a BEFORE DELETE trigger of a snapshot copy on a partitioned child
 * saw last.  An UPDATE that moves a row to another partition deletes it
 * there (firing BEFORE DELETE) and at once inserts it here (BEFORE INSERT),
 * and nothing else tells that insert from a new row: an insert in the same
 * command of the row just deleted, with its foreign key and its snapshot,
 * keeps the snapshot.
 */
typedef struct MovingRow
{
	bool		set;
	int32		id;
	LocalTransactionId lxid;
	CommandId	cid;
	Datum		fk;
	bool		fknull;
	Datum		copy;
} MovingRow;

static MovingRow Moving;
static MemoryContext MovingCxt = NULL;

/*
 * DenormInvalidateCopies forgets what was read from denorm_copies: any
 * relcache invalidation may be a trigger, column, owner or name change of
 * a copy's tables.  The entries are freed at the next lookup, never while
 * a trigger may still use one (callers copy what they need).
 */
void
DenormInvalidateCopies(Oid relid)
{
	CopiesStale = true;
}

/* at transaction end nothing of ours is running */
void
DenormResetCopies(void)
{
	CurrentFanOut = NULL;
	HealingCopy = 0;
	Moving.set = false;
}

static char *
QualifiedName(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static char *
QualifiedType(Oid relid, AttrNumber attnum)
{
	Oid			typid;
	int32		typmod;

	DenormAttributeType(relid, attnum, &typid, &typmod);
	return format_type_extended(typid, typmod,
								FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

/*
 * The base type of a copy column's type, named with its schema: values are
 * compared by their binary image (record_image_ne), which needs both sides
 * of one type, and a domain's values are its base type's.
 */
static char *
BaseTypeName(Oid typid)
{
	return format_type_extended(getBaseType(typid), -1, FORMAT_TYPE_FORCE_QUALIFY);
}

static AttrNumber
RequireAttnum(Oid relid, const char *column, int32 id)
{
	AttrNumber	attnum = get_attnum(relid, column);

	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" used by denorm copy %d does not exist",
						column, get_rel_name(relid), id),
				 errhint("Drop the copy with denorm_drop_copy(%d).", id)));
	return attnum;
}

/*
 * CheckCopyAuthority refuses a copy whose owners no longer have the rights
 * it rests on: the child's owner receives the parent's values (it must be
 * able to read the key and the source column), and the parent's owner's
 * writes change the child (it must be able to update the copy column).
 */
static bool
ColumnAllowed(Oid relid, const char *column, Oid role, AclMode mode)
{
	return pg_class_aclcheck(relid, role, mode) == ACLCHECK_OK ||
		pg_attribute_aclcheck(relid, get_attnum(relid, column), role, mode) == ACLCHECK_OK;
}

static void
CheckCopyAuthority(CopyEntry *e)
{
	Oid			childowner = DenormRelationOwner(e->child);
	Oid			parentowner = DenormRelationOwner(e->parent);

	/* row security hiding parent rows from the child's owner counts as no right */
	if (!ColumnAllowed(e->parent, e->source_column, childowner, ACL_SELECT) ||
		!ColumnAllowed(e->parent, e->parent_key, childowner, ACL_SELECT) ||
		check_enable_rls(e->parent, childowner, true) == RLS_ENABLED ||
		!ColumnAllowed(e->child, e->copy_column, parentowner, ACL_UPDATE))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("denorm copy %d in column \"%s\" of table \"%s\" is no longer authorized",
						e->id, e->copy_column, get_rel_name(e->child)),
				 errdetail("The owner of table \"%s\" must be able to read column \"%s\" and the key of table \"%s\", with no row security policy hiding rows, and the owner of table \"%s\" to update column \"%s\".",
						   get_rel_name(e->child), e->source_column, get_rel_name(e->parent),
						   get_rel_name(e->parent), e->copy_column),
				 errhint("Give the tables one owner again, or drop the copy with denorm_drop_copy(%d).", e->id)));
}

/*
 * ReadCopy reads copy id from denorm_copies (in schema nsp) into a new
 * entry in CopyCxt and builds its statements; NULL when there is no such
 * copy.  Runs in the caller's SPI connection.
 */
static CopyEntry *
ReadCopy(Oid nsp, int32 id)
{
	char	   *sql;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	Oid			regowner;
	CopyEntry  *e;
	MemoryContext old;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	AttrNumber	fkatt,
				keyatt,
				srcatt,
				copyatt;
	char	   *copytype;

	if (CopyCxt == NULL)
		CopyCxt = AllocSetContextCreate(TopMemoryContext, "denorm copies",
										ALLOCSET_SMALL_SIZES);
	regowner = DenormRelationOwner(get_relname_relid("denorm_copies", nsp));
	sql = psprintf("SELECT child::pg_catalog.oid, parent::pg_catalog.oid, copy_column::pg_catalog.text, "
				   "source_column::pg_catalog.text, foreign_key::pg_catalog.text, "
				   "parent_key::pg_catalog.text, mode FROM %s.denorm_copies "
				   "WHERE id OPERATOR(pg_catalog.=) $1",
				   quote_identifier(get_namespace_name(nsp)));
	values[0] = Int32GetDatum(id);
	if (DenormExecAs(regowner, DENORM_PATH_SAFE, InvalidOid, sql, 1, argtypes, values,
					 NULL, NULL, true) != 1)
		return NULL;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	old = MemoryContextSwitchTo(CopyCxt);
	e = palloc0(sizeof(CopyEntry));
	e->id = id;
	e->child = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	e->parent = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	e->copy_column = SPI_getvalue(tup, desc, 3);
	e->source_column = SPI_getvalue(tup, desc, 4);
	e->foreign_key = SPI_getvalue(tup, desc, 5);
	e->parent_key = SPI_getvalue(tup, desc, 6);
	e->sync = strcmp(SPI_getvalue(tup, desc, 7), "sync") == 0;
	MemoryContextSwitchTo(old);

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(e->child)) ||
		!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(e->parent)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("a table of denorm copy %d no longer exists", id),
				 errhint("Drop the copy with denorm_drop_copy(%d).", id)));
	fkatt = RequireAttnum(e->child, e->foreign_key, id);
	copyatt = RequireAttnum(e->child, e->copy_column, id);
	keyatt = RequireAttnum(e->parent, e->parent_key, id);
	srcatt = RequireAttnum(e->parent, e->source_column, id);
	e->fktype = get_atttype(e->child, fkatt);
	e->keytype = get_atttype(e->parent, keyatt);
	e->srctype = get_atttype(e->parent, srcatt);
	e->copytype = get_atttype(e->child, copyatt);
	/* keys are hashed and compared with the writer's rights */
	if (!DenormBuiltinType(e->fktype) || !DenormBuiltinType(e->keytype))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("parent key and foreign key of denorm copy %d must be of built-in types", id),
				 errhint("Drop the copy with denorm_drop_copy(%d).", id)));
	{
		Oid			typid;
		int32		typmod;

		get_atttypetypmodcoll(e->child, fkatt, &typid, &typmod, &e->fkcoll);
		get_atttypetypmodcoll(e->parent, keyatt, &typid, &typmod, &e->keycoll);
	}
	CheckCopyAuthority(e);

	old = MemoryContextSwitchTo(CopyCxt);
	e->child_name = QualifiedName(e->child);
	e->parent_name = QualifiedName(e->parent);
	copytype = QualifiedType(e->child, copyatt);
	/*
	 * FOR SHARE, not KEY SHARE: it waits for an uncommitted change of the
	 * source value, and at READ COMMITTED then returns the new one.
	 */
	e->lookup_sql = psprintf("SELECT p.%s::%s FROM %s p WHERE p.%s OPERATOR(pg_catalog.=) $1 FOR SHARE OF p",
							 quote_identifier(e->source_column), copytype, e->parent_name,
							 quote_identifier(e->parent_key));
	/*
	 * The fan-out runs with the owner's search path (the child's own
	 * triggers expect it), so its operators are named with their schema:
	 * IS DISTINCT FROM would look "=" up along that path.
	 */
	/*
	 * Rows are compared by their binary image, not by "=": a value that
	 * "=" calls equal may still be another value (a case-insensitive
	 * collation's 'Ann' and 'ann', numeric 1.0 and 1.00, -0 and 0).
	 */
	e->fanout_sql = psprintf("UPDATE %s c SET %s = $1 WHERE c.%s OPERATOR(pg_catalog.=) $2 "
							 "AND pg_catalog.record_image_ne(ROW(c.%s::%s), ROW($1::%s))",
							 e->child_name, quote_identifier(e->copy_column),
							 quote_identifier(e->foreign_key), quote_identifier(e->copy_column),
							 BaseTypeName(e->copytype), BaseTypeName(e->copytype));
	e->exists_sql = psprintf("SELECT FROM %s p WHERE p.%s OPERATOR(pg_catalog.=) $1",
							 e->parent_name, quote_identifier(e->parent_key));
	e->keyed_sql = psprintf("SELECT p.%s FROM %s p WHERE p.%s OPERATOR(pg_catalog.=) $1",
							quote_identifier(e->source_column), e->parent_name,
							quote_identifier(e->parent_key));
	e->fanout_null_sql = psprintf("UPDATE %s c SET %s = NULL WHERE c.%s OPERATOR(pg_catalog.=) $2 "
								  "AND c.%s IS NOT NULL",
								  e->child_name, quote_identifier(e->copy_column),
								  quote_identifier(e->foreign_key), quote_identifier(e->copy_column));
	e->cast_sql = psprintf("SELECT $1::%s", copytype);
	MemoryContextSwitchTo(old);
	return e;
}

/*
 * LookupCopy returns a copy of the entry of copy id for a trigger firing
 * on relid (parent_side: the parent's trigger), allocated in the caller's
 * context, after checking that the trigger is the copy's: the copy exists,
 * relid is its child (or a partition of it) or, for the parent's trigger,
 * its parent and the copy is a sync copy.  Anything else is refused.
 */
static CopyEntry *
LookupCopy(Oid nsp, int32 id, Oid relid, const char *tgname, bool parent_side)
{
	CopyEntry  *e;
	CopyEntry  *mine;

	if (CopiesStale && CopyCxt != NULL)
	{
		Copies = NULL;
		MemoryContextReset(CopyCxt);
		CopiesStale = false;
	}
	for (e = Copies; e != NULL; e = e->next)
		if (e->id == id)
			break;
	if (e == NULL)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		e = ReadCopy(nsp, id);
		SPI_finish();
		if (e != NULL && !CopiesStale)
		{
			e->next = Copies;
			Copies = e;
		}
	}
	if (e == NULL ||
		((parent_side ? e->trusted_parent : e->trusted_child) != relid &&
		 !(parent_side ? (DenormInChildTree(relid, e->parent) && e->sync)
		   : DenormInChildTree(relid, e->child))))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trigger \"%s\" on table \"%s\" does not match denorm copy %d",
						tgname, get_rel_name(relid), id),
				 errdetail("denorm triggers act only as registered in denorm_copies."),
				 errhint("Create copies with denorm_create_copy().")));
	if (parent_side)
		e->trusted_parent = relid;
	else
		e->trusted_child = relid;
	mine = palloc(sizeof(CopyEntry));
	memcpy(mine, e, sizeof(CopyEntry));
	mine->cached = CopiesStale ? NULL : e;
	mine->copy_column = pstrdup(e->copy_column);
	mine->source_column = pstrdup(e->source_column);
	mine->foreign_key = pstrdup(e->foreign_key);
	mine->parent_key = pstrdup(e->parent_key);
	mine->lookup_sql = pstrdup(e->lookup_sql);
	mine->fanout_sql = pstrdup(e->fanout_sql);
	mine->fanout_null_sql = pstrdup(e->fanout_null_sql);
	mine->cast_sql = pstrdup(e->cast_sql);
	mine->keyed_sql = pstrdup(e->keyed_sql);
	mine->exists_sql = pstrdup(e->exists_sql);
	mine->child_name = pstrdup(e->child_name);
	mine->parent_name = pstrdup(e->parent_name);
	mine->next = NULL;
	return mine;
}

/* the copy id a trigger carries, or an error */
static int32
TriggerCopyId(TriggerData *td, const char *fn)
{
	Trigger    *tg = td->tg_trigger;
	char	   *end;
	long		id;

	if (tg->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" needs the copy id as its one argument", fn)));
	id = strtol(tg->tgargs[0], &end, 10);
	if (*end != '\0' || id <= 0 || id > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" needs the copy id as its one argument", fn)));
	return (int32) id;
}

/*
 * ParentValue reads the value the copy takes for foreign key fk (as the
 * copy column's type, in the caller's memory context) as the parent's
 * owner, locking the parent row FOR SHARE.  A key without a parent row is
 * locked (child side, keylock.c) and looked for again with a snapshot taken
 * after the lock: a parent row inserted meanwhile by a transaction that has
 * committed now is found (at REPEATABLE READ and SERIALIZABLE, where the
 * transaction's snapshot cannot see it, that is a serialization failure).
 */
static Datum
ParentValue(CopyEntry *e, Datum fk, bool *isnull)
{
	MemoryContext here = CurrentMemoryContext;
	Oid			owner = DenormRelationOwner(e->parent);
	Oid			argtypes[1];
	Datum		values[1];
	Datum		result = (Datum) 0;
	uint64		n;
	int16		typlen;
	bool		typbyval;

	argtypes[0] = e->fktype;
	values[0] = fk;
	*isnull = true;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* once per transaction: the lock it takes keeps the table so */
	if (e->checked_lxid != MyProc->lxid || e->cached == NULL || CopiesStale)
	{
		DenormCheckTable(e->parent, e->id, "parent");
		if (e->cached != NULL && !CopiesStale)
			e->cached->checked_lxid = MyProc->lxid;
	}
	n = DenormExecAs(owner, DENORM_PATH_SAFE, e->parent, e->lookup_sql, 1, argtypes, values,
					 NULL, NULL, false);
	if (n == 0)
	{
		DenormLockKey(e->parent, DenormKeyLockHash(e->fktype, e->fkcoll, e->keytype,
												   e->keycoll, fk), false);
		n = DenormExecAs(owner, DENORM_PATH_SAFE, e->parent, e->lookup_sql, 1, argtypes,
						 values, NULL, GetLatestSnapshot(), false);
		if (n > 0 && IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent insert"),
					 errdetail("The parent row of a row of table \"%s\" for denorm copy %d appeared after this transaction's snapshot.",
							   get_rel_name(e->child), e->id),
					 errhint("Retry the transaction.")));
	}
	if (n > 0)
	{
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
		if (!*isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(here);

			get_typlenbyval(e->copytype, &typlen, &typbyval);
			result = datumCopy(result, typbyval, typlen);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	return result;
}

/*
 * Whether two foreign key values name the same parent key, by the foreign
 * key type's own equality (numeric 1.0 and 1.00 do; built-in types only).
 */
static bool
ForeignKeysEqual(CopyEntry *e, Datum a, Datum b)
{
	TypeCacheEntry *tc = lookup_type_cache(e->fktype, TYPECACHE_EQ_OPR_FINFO);

	if (!OidIsValid(tc->eq_opr_finfo.fn_oid))
		return false;
	return DatumGetBool(FunctionCall2Coll(&tc->eq_opr_finfo, e->fkcoll, a, b));
}

/* Whether a parent row holds key fk now (as the parent's owner, latest snapshot) */
static bool
ParentHoldsKey(CopyEntry *e, Datum fk)
{
	Oid			argtypes[1] = {e->fktype};
	Datum		values[1] = {fk};
	uint64		n;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	n = DenormExecAs(DenormRelationOwner(e->parent), DENORM_PATH_SAFE, e->parent,
					 e->exists_sql, 1, argtypes, values, NULL, GetLatestSnapshot(), false);
	SPI_finish();
	return n > 0;
}

static void
NoteLeavingRow(CopyEntry *e, HeapTuple tup, TupleDesc desc, AttrNumber fkatt, AttrNumber copyatt)
{
	Form_pg_attribute fa = TupleDescAttr(desc, fkatt - 1);
	Form_pg_attribute ca = TupleDescAttr(desc, copyatt - 1);
	bool		copynull;
	Datum		fk = heap_getattr(tup, fkatt, desc, &Moving.fknull);
	Datum		copy = heap_getattr(tup, copyatt, desc, &copynull);
	MemoryContext old;

	Moving.set = false;
	if (copynull)
		return;					/* no snapshot to keep */
	if (MovingCxt == NULL)
		MovingCxt = AllocSetContextCreate(TopMemoryContext, "denorm moving row",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(MovingCxt);
	old = MemoryContextSwitchTo(MovingCxt);
	Moving.fk = Moving.fknull ? (Datum) 0 : datumCopy(fk, fa->attbyval, fa->attlen);
	Moving.copy = datumCopy(copy, ca->attbyval, ca->attlen);
	MemoryContextSwitchTo(old);
	Moving.id = e->id;
	Moving.lxid = MyProc->lxid;
	Moving.cid = GetCurrentCommandId(false);
	Moving.set = true;
}

/* Whether a row being inserted is the row just deleted, moving partitions */
static bool
TakeMovingRow(CopyEntry *e, HeapTuple tup, TupleDesc desc, AttrNumber fkatt, AttrNumber copyatt)
{
	Form_pg_attribute fa = TupleDescAttr(desc, fkatt - 1);
	Form_pg_attribute ca = TupleDescAttr(desc, copyatt - 1);
	bool		fknull,
				copynull;
	Datum		fk,
				copy;
	bool		same;

	if (!Moving.set || Moving.id != e->id || Moving.lxid != MyProc->lxid ||
		Moving.cid != GetCurrentCommandId(false))
		return false;
	fk = heap_getattr(tup, fkatt, desc, &fknull);
	copy = heap_getattr(tup, copyatt, desc, &copynull);
	same = !copynull && fknull == Moving.fknull &&
		(fknull || datumIsEqual(fk, Moving.fk, fa->attbyval, fa->attlen)) &&
		datumIsEqual(copy, Moving.copy, ca->attbyval, ca->attlen);
	Moving.set = false;
	return same;
}

PG_FUNCTION_INFO_V1(denorm_copy_child_trigger);

/*
 * denorm_copy_child_trigger: BEFORE INSERT OR UPDATE OF foreign_key,
 * copy_column ON child FOR EACH ROW, argument: the copy id.  Sets the copy
 * column of the row being written to the parent's value (a new row, a
 * moved foreign key, a heal; in a sync copy any write of the column), or
 * back to what the row held (a snapshot copy's column written while the
 * foreign key stays).
 */
Datum
denorm_copy_child_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	CopyEntry  *e;
	HeapTuple	newtup;
	AttrNumber	fkatt;
	AttrNumber	copyatt;
	Datum		fk;
	bool		fknull;
	Datum		value;
	bool		valnull;
	bool		update;
	int16		typlen;
	bool		typbyval;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("denorm_copy_child_trigger was not called by trigger manager")));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("denorm_copy_child_trigger must be fired BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW")));
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		/* a snapshot copy's partitioned child: note the row, it may be moving */
		e = LookupCopy(get_func_namespace(fcinfo->flinfo->fn_oid),
					   TriggerCopyId(td, "denorm_copy_child_trigger"),
					   RelationGetRelid(rel), td->tg_trigger->tgname, false);
		fkatt = get_attnum(RelationGetRelid(rel), e->foreign_key);
		copyatt = get_attnum(RelationGetRelid(rel), e->copy_column);
		if (!e->sync && fkatt > 0 && copyatt > 0)
			NoteLeavingRow(e, td->tg_trigtuple, desc, fkatt, copyatt);
		return PointerGetDatum(td->tg_trigtuple);
	}
	update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	newtup = update ? td->tg_newtuple : td->tg_trigtuple;

	/*
	 * The fan-out's own rows: the value it writes, the foreign key it kept.
	 * Checked before the registry, as the fan-out read it a moment ago.
	 */
	if (update && CurrentFanOut != NULL && HealingCopy == 0 &&
		CurrentFanOut->id == TriggerCopyId(td, "denorm_copy_child_trigger"))
	{
		FanOut	   *f = CurrentFanOut;
		Oid			relid = RelationGetRelid(rel);

		/* the table's columns, once per table the fan-out reaches */
		if (f->relid != relid)
		{
			e = LookupCopy(get_func_namespace(fcinfo->flinfo->fn_oid), f->id, relid,
						   td->tg_trigger->tgname, false);
			f->fkatt = get_attnum(relid, e->foreign_key);
			f->copyatt = get_attnum(relid, e->copy_column);
			f->relid = relid;
		}
		if (f->fkatt > 0 && f->copyatt > 0)
		{
			bool		oldnull,
						newnull;
			Datum		oldfk = heap_getattr(td->tg_trigtuple, f->fkatt, desc, &oldnull);
			Datum		newfk = heap_getattr(newtup, f->fkatt, desc, &newnull);
			Datum		newval = heap_getattr(newtup, f->copyatt, desc, &valnull);
			Form_pg_attribute fa = TupleDescAttr(desc, f->fkatt - 1);

			if (oldnull == newnull && !newnull &&
				datumIsEqual(oldfk, newfk, fa->attbyval, fa->attlen) &&
				valnull == f->isnull &&
				(valnull || datumIsEqual(newval, f->value, f->typbyval, f->typlen)))
			{
				if (++f->rows % COPY_PROGRESS_ROWS == 0)
				{
					char	   *msg = psprintf("denorm copy %d: %llu rows of table %s set so far",
											   f->id, (unsigned long long) f->rows,
											   f->child_name);

					pgstat_report_activity(STATE_RUNNING, msg);
					pfree(msg);
				}
				return PointerGetDatum(newtup);
			}
		}
	}

	e = LookupCopy(get_func_namespace(fcinfo->flinfo->fn_oid),
				   TriggerCopyId(td, "denorm_copy_child_trigger"),
				   RelationGetRelid(rel), td->tg_trigger->tgname, false);
	fkatt = get_attnum(RelationGetRelid(rel), e->foreign_key);
	copyatt = get_attnum(RelationGetRelid(rel), e->copy_column);
	if (fkatt <= 0 || copyatt <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" lacks a column of denorm copy %d",
						RelationGetRelationName(rel), e->id),
				 errhint("Drop the copy with denorm_drop_copy(%d).", e->id)));
	fk = heap_getattr(newtup, fkatt, desc, &fknull);
	get_typlenbyval(e->copytype, &typlen, &typbyval);

	if (update && HealingCopy != e->id)
	{
		bool		oldnull;
		Datum		oldfk = heap_getattr(td->tg_trigtuple, fkatt, desc, &oldnull);
		bool		moved = oldnull != fknull ||
			(!fknull && !ForeignKeysEqual(e, oldfk, fk));

		/*
		 * A snapshot moves with its row only to another parent: when no row
		 * holds the old key any more, its parent was re-keyed (ON UPDATE
		 * CASCADE) or is gone, and the value taken stays.
		 */
		if (!e->sync && moved && !oldnull && !fknull && !ParentHoldsKey(e, oldfk))
			moved = false;

		/*
		 * The trigger fires on every UPDATE (a user trigger before it may
		 * have changed the foreign key): a row that keeps its foreign key
		 * and its copy has nothing to do.
		 */
		if (!moved)
		{
			bool		oldcopynull,
						newcopynull;
			Datum		oldcopy = heap_getattr(td->tg_trigtuple, copyatt, desc, &oldcopynull);
			Datum		newcopy = heap_getattr(newtup, copyatt, desc, &newcopynull);

			if (oldcopynull == newcopynull &&
				(oldcopynull || datumIsEqual(oldcopy, newcopy, typbyval, typlen)))
				return PointerGetDatum(newtup);
		}

		/*
		 * A snapshot stays what it was taken as, also when the foreign key
		 * is emptied (ON DELETE SET NULL: the value at the time outlives
		 * the parent); a new parent gives a new snapshot.
		 */
		if (!e->sync && (!moved || fknull))
		{
			value = heap_getattr(td->tg_trigtuple, copyatt, desc, &valnull);
			goto set;
		}
	}

	/* a snapshot moving to another partition of the child keeps its value */
	if (!update && !e->sync && TakeMovingRow(e, newtup, desc, fkatt, copyatt))
		return PointerGetDatum(newtup);

	if (fknull)
	{
		value = (Datum) 0;
		valnull = true;
	}
	else
		value = ParentValue(e, fk, &valnull);

set:
	{
		bool		curnull;
		Datum		cur = heap_getattr(newtup, copyatt, desc, &curnull);
		int			col = copyatt;

		if (curnull == valnull && (valnull || datumIsEqual(cur, value, typbyval, typlen)))
			return PointerGetDatum(newtup);
		newtup = heap_modify_tuple_by_cols(newtup, desc, 1, &col, &value, &valnull);
	}
	return PointerGetDatum(newtup);
}

/*
 * FanOutKey sets the copy on every child of parent key key to the source
 * value src (NULL: the parent row left the key), as the child's owner, in
 * one UPDATE, with a snapshot taken now (at REPEATABLE READ and
 * SERIALIZABLE the transaction's as crosscheck).  Runs in the caller's SPI
 * connection.
 */
static void
FanOutKey(CopyEntry *e, Datum key, Datum src, bool srcnull)
{
	Oid			argtypes[2];
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	FanOut		f;
	Datum		value = (Datum) 0;
	bool		isxact = IsolationUsesXactSnapshot();

	if (!srcnull)
	{
		/* the value as the copy column's type, as the fan-out writes it */
		Oid			t[1] = {e->srctype};
		Datum		v[1] = {src};

		if (DenormExecAs(GetUserId(), DENORM_PATH_SAFE, InvalidOid, e->cast_sql, 1, t, v,
						 NULL, NULL, true) != 1)
			elog(ERROR, "denorm copy cast returned no row");
		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &srcnull);
	}
	f.id = e->id;
	f.value = value;
	f.isnull = srcnull;
	get_typlenbyval(e->copytype, &f.typlen, &f.typbyval);
	f.rows = 0;
	f.child_name = e->child_name;
	f.relid = InvalidOid;
	f.fkatt = f.copyatt = InvalidAttrNumber;
	f.outer = CurrentFanOut;

	argtypes[0] = e->copytype;
	argtypes[1] = e->keytype;
	values[0] = value;
	nulls[0] = srcnull ? 'n' : ' ';
	values[1] = key;
	DenormCheckTable(e->child, e->id, "child");
	CurrentFanOut = &f;
	PG_TRY();
	{
		(void) DenormExecAsChecked(DenormRelationOwner(e->child), DENORM_PATH_OWNER, e->child,
								   srcnull ? e->fanout_null_sql : e->fanout_sql,
								   2, argtypes, values, nulls,
								   isxact ? GetLatestSnapshot() : NULL,
								   isxact ? GetTransactionSnapshot() : InvalidSnapshot,
								   false, 0);
	}
	PG_FINALLY();
	{
		CurrentFanOut = f.outer;
	}
	PG_END_TRY();
	if (f.rows >= COPY_PROGRESS_ROWS && debug_query_string != NULL)
		pgstat_report_activity(STATE_RUNNING, debug_query_string);
}

PG_FUNCTION_INFO_V1(denorm_copy_parent_trigger);

/*
 * denorm_copy_parent_trigger: AFTER INSERT OR DELETE OR UPDATE OF
 * source_column, parent_key ON parent FOR EACH ROW, argument: the copy id
 * (sync copies only).  Sets the copy on the children of the keys the row
 * left (to NULL) and took or kept (to the row's source value).  A key taken
 * is locked first (parent side, keylock.c), so a child writer that found no
 * parent row for it is waited for and then seen.
 */
Datum
denorm_copy_parent_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	CopyEntry  *e;
	AttrNumber	keyatt;
	AttrNumber	srcatt;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	Datum		oldkey = (Datum) 0,
				newkey = (Datum) 0,
				oldsrc = (Datum) 0,
				newsrc = (Datum) 0;
	bool		oldkeynull = true,
				newkeynull = true,
				oldsrcnull = true,
				newsrcnull = true;
	Form_pg_attribute ka;
	Form_pg_attribute sa;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("denorm_copy_parent_trigger was not called by trigger manager")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("denorm_copy_parent_trigger must be fired AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW")));
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	e = LookupCopy(get_func_namespace(fcinfo->flinfo->fn_oid),
				   TriggerCopyId(td, "denorm_copy_parent_trigger"),
				   RelationGetRelid(rel), td->tg_trigger->tgname, true);
	keyatt = get_attnum(RelationGetRelid(rel), e->parent_key);
	srcatt = get_attnum(RelationGetRelid(rel), e->source_column);
	if (keyatt <= 0 || srcatt <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" lacks a column of denorm copy %d",
						RelationGetRelationName(rel), e->id),
				 errhint("Drop the copy with denorm_drop_copy(%d).", e->id)));
	ka = TupleDescAttr(desc, keyatt - 1);
	sa = TupleDescAttr(desc, srcatt - 1);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		newtup = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		oldtup = td->tg_trigtuple;
	else
	{
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
	}
	if (oldtup != NULL)
	{
		oldkey = heap_getattr(oldtup, keyatt, desc, &oldkeynull);
		oldsrc = heap_getattr(oldtup, srcatt, desc, &oldsrcnull);
	}
	if (newtup != NULL)
	{
		newkey = heap_getattr(newtup, keyatt, desc, &newkeynull);
		newsrc = heap_getattr(newtup, srcatt, desc, &newsrcnull);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (oldtup != NULL && newtup != NULL && oldkeynull == newkeynull &&
		(oldkeynull || datumIsEqual(oldkey, newkey, ka->attbyval, ka->attlen)))
	{
		/* the key stays: the children follow a changed value */
		if (!oldkeynull &&
			(oldsrcnull != newsrcnull ||
			 (!newsrcnull && !datumIsEqual(oldsrc, newsrc, sa->attbyval, sa->attlen))))
			FanOutKey(e, newkey, newsrc, newsrcnull);
	}
	else
	{
		if (oldtup != NULL && !oldkeynull)
		{
			/*
			 * The key's children take the value of the row that holds the
			 * key now: none (NULL), or another row of the same statement
			 * (UPDATE ... SET id = id + 1 hands each key to the next row,
			 * whose own trigger may have fired first).
			 */
			Oid			kt[1] = {e->keytype};
			Datum		kv[1] = {oldkey};
			bool		heldnull = true;
			Datum		held = (Datum) 0;

			/* not read-only: the snapshot then sees this statement's rows */
			if (DenormExecAs(DenormRelationOwner(e->parent), DENORM_PATH_SAFE, e->parent,
							 e->keyed_sql, 1, kt, kv, NULL, GetLatestSnapshot(), false) == 1)
			{
				held = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &heldnull);
				if (!heldnull)
				{
					int16		len;
					bool		byval;

					get_typlenbyval(e->srctype, &len, &byval);
					held = datumCopy(held, byval, len);
				}
			}
			FanOutKey(e, oldkey, held, heldnull);
		}
		if (newtup != NULL && !newkeynull)
		{
			DenormLockKey(e->parent, DenormKeyLockHash(e->keytype, e->keycoll, e->fktype,
													   e->fkcoll, newkey), true);
			FanOutKey(e, newkey, newsrc, newsrcnull);
		}
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(denorm_copy_truncate_trigger);

/*
 * denorm_copy_truncate_trigger: AFTER TRUNCATE ON parent FOR EACH
 * STATEMENT (on the parent and each of its partitions), argument: the copy
 * id (sync copies only).  TRUNCATE fires no row triggers, so the children
 * whose parent row it took (a child without a foreign key constraint, or
 * one that survives in a table the TRUNCATE did not reach) would keep the
 * old value: this sets the copy to NULL on every child row that now has no
 * parent row, in one UPDATE as the child's owner, in the same transaction.
 * TRUNCATE holds ACCESS EXCLUSIVE on the tables it emptied until commit,
 * so no child writer can read a parent row of theirs meanwhile.  The
 * UPDATE runs as a fan-out writing NULL: the child trigger lets its rows
 * through without reading the parent.  At REPEATABLE READ and
 * SERIALIZABLE it reads with a snapshot taken now (the transaction's as
 * crosscheck), as the fan-out does, so a child committed while TRUNCATE
 * waited for its lock is not left behind.
 */
Datum
denorm_copy_truncate_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	CopyEntry  *e;
	FanOut		f;
	char	   *sql;
	bool		isxact = IsolationUsesXactSnapshot();

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("denorm_copy_truncate_trigger was not called by trigger manager")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("denorm_copy_truncate_trigger must be fired AFTER TRUNCATE")));
	e = LookupCopy(get_func_namespace(fcinfo->flinfo->fn_oid),
				   TriggerCopyId(td, "denorm_copy_truncate_trigger"),
				   RelationGetRelid(td->tg_relation), td->tg_trigger->tgname, true);
	sql = psprintf("UPDATE %s c SET %s = NULL WHERE c.%s IS NOT NULL AND NOT EXISTS "
				   "(SELECT FROM %s p WHERE p.%s OPERATOR(pg_catalog.=) c.%s)",
				   e->child_name, quote_identifier(e->copy_column),
				   quote_identifier(e->copy_column), e->parent_name,
				   quote_identifier(e->parent_key), quote_identifier(e->foreign_key));

	f.id = e->id;
	f.value = (Datum) 0;
	f.isnull = true;
	get_typlenbyval(e->copytype, &f.typlen, &f.typbyval);
	f.rows = 0;
	f.child_name = e->child_name;
	f.relid = InvalidOid;
	f.fkatt = f.copyatt = InvalidAttrNumber;
	f.outer = CurrentFanOut;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	DenormCheckTable(e->child, e->id, "child");
	CurrentFanOut = &f;
	PG_TRY();
	{
		(void) DenormExecAsChecked(DenormRelationOwner(e->child), DENORM_PATH_OWNER, e->child,
								   sql, 0, NULL, NULL, NULL,
								   isxact ? GetLatestSnapshot() : NULL,
								   isxact ? GetTransactionSnapshot() : InvalidSnapshot,
								   false, 0);
	}
	PG_FINALLY();
	{
		CurrentFanOut = f.outer;
	}
	PG_END_TRY();
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * The caller of a heal (or a fill) rewrites copies with the child owner's
 * rights, so it must itself be able to read both tables' columns of the
 * copy, with no row security policy hiding rows, and to update the copy
 * column.  Reconcile checks the same before it starts; this holds for
 * anyone calling the function directly.
 */
static void
CheckCallerMayHeal(CopyEntry *e)
{
	Oid			user = GetUserId();

	if (check_enable_rls(e->child, user, true) == RLS_ENABLED ||
		check_enable_rls(e->parent, user, true) == RLS_ENABLED ||
		!ColumnAllowed(e->child, e->copy_column, user, ACL_UPDATE) ||
		!ColumnAllowed(e->child, e->copy_column, user, ACL_SELECT) ||
		!ColumnAllowed(e->child, e->foreign_key, user, ACL_SELECT) ||
		!ColumnAllowed(e->parent, e->source_column, user, ACL_SELECT) ||
		!ColumnAllowed(e->parent, e->parent_key, user, ACL_SELECT))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to heal denorm copy %d in column \"%s\" of table \"%s\"",
						e->id, e->copy_column, get_rel_name(e->child)),
				 errdetail("Healing a copy needs SELECT on its columns of both tables and UPDATE on the copy column, with no row security policy hiding rows."),
				 errhint("Have the tables' owner reconcile the copy.")));
}

PG_FUNCTION_INFO_V1(denorm_copy_heal);

/*
 * denorm_copy_heal(copy_id integer, tbl regclass, rows tid[]) returns
 * bigint
 *
 * Sets the copy of the given rows of tbl (the child or one of its
 * partitions) afresh from their parents, as the child's owner, through the
 * child trigger (which then reads the parent as a writer does, FOR SHARE),
 * and returns how many rows it wrote.  Rows updated since they were found
 * are skipped: their writer set their copy.  Reconcile checks the caller's
 * rights first.
 */
Datum
denorm_copy_heal(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	Oid			tbl = PG_GETARG_OID(1);
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	CopyEntry  *e;
	char	   *sql;
	Oid			argtypes[1] = {TIDARRAYOID};
	Datum		values[1];
	uint64		n = 0;
	int32		saved = HealingCopy;

	values[0] = PG_GETARG_DATUM(2);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	e = LookupCopy(nsp, id, tbl, "denorm_copy_heal", false);
	CheckCallerMayHeal(e);
	DenormCheckTable(e->child, id, "child");
	DenormCheckTable(e->parent, id, "parent");
	sql = psprintf("UPDATE ONLY %s c SET %s = c.%s WHERE c.ctid OPERATOR(pg_catalog.=) ANY ($1)",
				   QualifiedName(tbl), quote_identifier(e->copy_column),
				   quote_identifier(e->copy_column));
	HealingCopy = id;
	PG_TRY();
	{
		n = DenormExecAs(DenormRelationOwner(e->child), DENORM_PATH_OWNER, e->child, sql, 1,
						 argtypes, values, NULL, NULL, false);
	}
	PG_FINALLY();
	{
		HealingCopy = saved;
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

PG_FUNCTION_INFO_V1(denorm_copy_fill);

/*
 * denorm_copy_fill(copy_id integer) returns bigint
 *
 * The fill of a copy being declared, before its triggers exist: sets the
 * copy column of every child row from its parent (a snapshot copy: only
 * rows whose copy is NULL; a sync copy: NULL where no parent row has the
 * key), as the child's owner with a pinned search path, so that user
 * triggers on the child run with their owner's rights, never the
 * caller's.  Returns how many rows it set.
 */
Datum
denorm_copy_fill(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	CopyEntry  *e;
	char	   *copytype;
	char	   *sql;
	char	   *nulls_sql = NULL;
	uint64		n;
	Oid			owner;
	Oid			child;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	e = ReadCopy(nsp, id);
	if (e == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("denorm copy %d does not exist", id)));
	owner = DenormRelationOwner(e->child);
	if (!has_privs_of_role(GetUserId(), owner) ||
		!has_privs_of_role(GetUserId(), DenormRelationOwner(e->parent)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of tables %s and %s to fill denorm copy %d",
						e->child_name, e->parent_name, id)));
	DenormCheckTable(e->child, id, "child");
	DenormCheckTable(e->parent, id, "parent");
	/*
	 * Both statements are built before either runs: the fill fires the
	 * child's triggers, whose lookups may free the entry (CopyCxt).
	 */
	copytype = QualifiedType(e->child, get_attnum(e->child, e->copy_column));
	sql = psprintf("UPDATE %s c SET %s = p.%s::%s FROM %s p "
				   "WHERE p.%s OPERATOR(pg_catalog.=) c.%s "
				   "AND pg_catalog.record_image_ne(ROW(c.%s::%s), ROW(p.%s::%s::%s))%s",
				   e->child_name, quote_identifier(e->copy_column),
				   quote_identifier(e->source_column), copytype, e->parent_name,
				   quote_identifier(e->parent_key), quote_identifier(e->foreign_key),
				   quote_identifier(e->copy_column), BaseTypeName(e->copytype),
				   quote_identifier(e->source_column), copytype, BaseTypeName(e->copytype),
				   e->sync ? "" : psprintf(" AND c.%s IS NULL", quote_identifier(e->copy_column)));
	if (e->sync)
		nulls_sql = psprintf("UPDATE %s c SET %s = NULL WHERE c.%s IS NOT NULL AND NOT EXISTS "
							 "(SELECT FROM %s p WHERE p.%s OPERATOR(pg_catalog.=) c.%s)",
							 e->child_name, quote_identifier(e->copy_column),
							 quote_identifier(e->copy_column), e->parent_name,
							 quote_identifier(e->parent_key), quote_identifier(e->foreign_key));
	child = e->child;
	e = NULL;
	/* the owner's path, as for the fan-out: the child's own triggers expect it */
	n = DenormExecAs(owner, DENORM_PATH_OWNER, child, sql, 0, NULL, NULL, NULL, NULL, false);
	if (nulls_sql != NULL)
		n += DenormExecAs(owner, DENORM_PATH_OWNER, child, nulls_sql, 0, NULL, NULL, NULL, NULL,
						  false);
	SPI_finish();
	/* the entry is not kept: the next lookup frees it */
	CopiesStale = true;
	PG_RETURN_INT64((int64) n);
}

PG_FUNCTION_INFO_V1(denorm_copy_check);

/*
 * denorm_copy_check(copy_id integer) returns void: the trust checks of a
 * copy, as its triggers make them (creation, before maintenance).
 */
Datum
denorm_copy_check(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	CopyEntry  *e;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	e = ReadCopy(get_func_namespace(fcinfo->flinfo->fn_oid), id);
	if (e == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("denorm copy %d does not exist", id),
				 errhint("The denorm_copy_status view lists the copies there are.")));
	SPI_finish();
	/* the entry is not kept: the next lookup frees it */
	CopiesStale = true;
	PG_RETURN_VOID();
}
