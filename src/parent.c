/*-------------------------------------------------------------------------
 *
 * parent.c
 *	  The trigger on a counter's parent: a row whose key changes gets the
 *	  counter of its new key, and (deferred counters) a row that gives up
 *	  its key leaves the key its pending deltas.
 *
 * Children are read as the child's owner, pending deltas written as the
 * owner of denorm_pending (owner.c), never as whoever updates the parent.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "access/table.h"
#include "catalog/pg_constraint.h"
#include "utils/syscache.h"
#include "utils/memutils.h"
#include "utils/hsearch.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "nodes/parsenodes.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

/*
 * Runs a one-row, one-column query as the given role and returns its
 * result as numeric (0 when NULL).
 */
static Datum
QueryNumericAs(Oid role, Oid relid, const char *sql, int nargs, Oid *argtypes, Datum *values,
			   Snapshot snap)
{
	bool		isnull;
	Datum		result;

	if (DenormExecAs(role, DENORM_PATH_SAFE, relid, sql, nargs, argtypes, values, NULL, snap, true) != 1)
		elog(ERROR, "denorm query returned no row");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NumericGetDatum(int64_to_numeric(0));
	return datumCopy(result, false, -1);
}

/*
 * What key's children add up to, less the key's pending deltas (deferred
 * counters): the value a parent row with that key must hold for its
 * counter to be exact.  Both are read in snap, so that a writer's child row
 * and its pending delta are seen together or not at all.  Children are
 * read as the child's owner, pending deltas as the owner of denorm_pending:
 *   SELECT count(*) | sum(x.value) FROM child x WHERE x.fk = $1 AND (filter)
 *   SELECT sum(q.delta) FROM denorm_pending q
 *    WHERE q.counter_id = $2 AND q.parent_key::keytype = $1
 */
static Datum
ChildAggregate(DenormRegistry *r, DenormNames *n, Oid keytype, Datum key, Snapshot snap)
{
	Oid			argtypes[2] = {keytype, INT4OID};
	Datum		values[2];
	Datum		actual;

	values[0] = key;
	values[1] = Int32GetDatum(0);
	actual = QueryNumericAs(DenormRelationOwner(r->child), r->child,
							psprintf("SELECT (%s)::pg_catalog.numeric FROM %s x "
									 "WHERE x.%s OPERATOR(pg_catalog.=) $1 AND (%s)",
									 n->agg, n->child, n->fk, n->filter),
							1, argtypes, values, snap);
	if (strcmp(r->mode, "deferred") == 0 && keytype == NUMERICOID)
	{
		/* equal numerics print differently (1.0, 1.00): compared as numeric */
		values[1] = Int32GetDatum(r->id);
		actual = DirectFunctionCall2(numeric_sub, actual,
									 QueryNumericAs(n->pending_owner, InvalidOid,
													psprintf("SELECT pg_catalog.sum(q.delta) FROM %s q "
															 "WHERE q.counter_id OPERATOR(pg_catalog.=) $2 "
															 "AND q.parent_key::%s OPERATOR(pg_catalog.=) $1",
															 n->pending, format_type_be_qualified(keytype)),
													2, argtypes, values, snap));
	}
	else if (strcmp(r->mode, "deferred") == 0)
	{
		/*
		 * The other key types a deferred counter takes (integers, text,
		 * varchar, uuid) print alike when equal: the key's text finds its
		 * pending rows through denorm_pending's index.
		 */
		Oid			targtypes[2] = {TEXTOID, INT4OID};
		Oid			typoutput;
		bool		typisvarlena;

		getTypeOutputInfo(keytype, &typoutput, &typisvarlena);
		values[0] = CStringGetTextDatum(OidOutputFunctionCall(typoutput, key));
		values[1] = Int32GetDatum(r->id);
		actual = DirectFunctionCall2(numeric_sub, actual,
									 QueryNumericAs(n->pending_owner, InvalidOid,
													psprintf("SELECT pg_catalog.sum(q.delta) FROM %s q "
															 "WHERE q.counter_id OPERATOR(pg_catalog.=) $2 "
															 "AND q.parent_key OPERATOR(pg_catalog.=) $1",
															 n->pending),
													2, targtypes, values, snap));
	}
	return actual;
}

/*
 * The extreme of a min/max counter over key's children, read as the
 * child's owner in snap, in the value's own type (NULL when no child
 * counts); in SPI's memory:
 *   SELECT min|max(x.value) FROM child x WHERE x.fk = $1 AND (filter)
 */
static Datum
ChildExtremeValue(DenormRegistry *r, DenormNames *n, Oid keytype, Datum key, Snapshot snap,
				  bool *isnull)
{
	Oid			argtypes[1] = {keytype};
	Datum		values[1] = {key};

	if (DenormExecAs(DenormRelationOwner(r->child), DENORM_PATH_SAFE, r->child,
					 psprintf("SELECT %s FROM %s x WHERE x.%s OPERATOR(pg_catalog.=) $1 AND (%s)",
							  n->agg, n->child, n->fk, n->filter),
					 1, argtypes, values, NULL, snap, true) != 1)
		elog(ERROR, "denorm query returned no row");
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
}

/* An integer column's value as int64, whatever its width */
static int64
ColumnInt64(TupleDesc desc, AttrNumber attno, Datum value)
{
	switch (TupleDescAttr(desc, attno - 1)->atttypid)
	{
		case INT2OID:
			return DatumGetInt16(value);
		case INT4OID:
			return DatumGetInt32(value);
		default:
			return DatumGetInt64(value);
	}
}


/*
 * What a parent trigger reads of its counter, kept per counter id for the
 * session: its registry row and the names statements are built from.  A
 * relcache invalidation of the parent or the child (a denorm_counters
 * change sends one for the child; renames, grants and ownership changes
 * send them) or of a schema forgets it, so it is read again, and checked
 * again, on the next call.
 */
typedef struct ParentCounter
{
	int32		id;				/* hash key */
	bool		valid;
	Oid			nsp;			/* the extension's schema it was read from */
	MemoryContext cxt;			/* holds r and n */
	MemoryContext oldcxt;		/* the one before */
	DenormRegistry r;
	DenormNames n;
	bool		fk_guarded;		/* see ChildKeyGuarded */
	bool		shard;			/* r is a Citus shard pair (DenormCitusRegistry) */
} ParentCounter;

static HTAB *ParentCounters = NULL;

/*
 * Whether the child's foreign key column references the parent key through
 * a validated, not deferrable foreign key constraint.  Then no child can
 * reference a key before its parent row is committed, nor write one whose
 * row is not there: a new parent row has no children but those of its own
 * transaction, and nothing pending (what stays pending for a key without a
 * row is what its children add up to).  When this transaction has no
 * deltas for the counter still to come, the row must hold 0, and nothing
 * needs to be read or locked to know that.
 */
static bool
ChildKeyGuarded(DenormRegistry *r)
{
	Relation	child = table_open(r->child, AccessShareLock);
	AttrNumber	fkattno = get_attnum(r->child, r->foreign_key);
	AttrNumber	keyattno = get_attnum(r->parent, r->parent_key);
	ListCell   *lc;
	bool		guarded = false;

	foreach(lc, RelationGetFKeyList(child))
	{
		ForeignKeyCacheInfo *fk = (ForeignKeyCacheInfo *) lfirst(lc);
		HeapTuple	tup;

		if (fk->confrelid != r->parent || fk->nkeys != 1 ||
			fk->conkey[0] != fkattno || fk->confkey[0] != keyattno)
			continue;
		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(fk->conoid));
		if (!HeapTupleIsValid(tup))
			continue;
		if (((Form_pg_constraint) GETSTRUCT(tup))->convalidated &&
			!((Form_pg_constraint) GETSTRUCT(tup))->condeferrable)
			guarded = true;
		ReleaseSysCache(tup);
	}
	table_close(child, AccessShareLock);
	return guarded;
}

void
DenormInvalidateParentCounters(Oid relid)
{
	HASH_SEQ_STATUS seq;
	ParentCounter *e;

	if (ParentCounters == NULL)
		return;
	hash_seq_init(&seq, ParentCounters);
	while ((e = (ParentCounter *) hash_seq_search(&seq)) != NULL)
		if (e->valid && (relid == InvalidOid || e->r.parent == relid || e->r.child == relid))
			e->valid = false;
}

/*
 * The registry row and names of counter id, for a trigger on rel; NULL when
 * the registry has no such counter of rel's tree.
 */
static ParentCounter *
GetParentCounter(Oid nsp, int32 id, Relation rel)
{
	ParentCounter *e;
	bool		found;

	if (ParentCounters == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(ParentCounter);
		ctl.hcxt = TopMemoryContext;
		ParentCounters = hash_create("denorm parent counters", 16, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = (ParentCounter *) hash_search(ParentCounters, &id, HASH_ENTER, &found);
	if (!found)
	{
		e->valid = false;
		e->shard = false;
		e->cxt = NULL;
		e->oldcxt = NULL;
	}
	/*
	 * On a Citus node the entry is for one shard of the parent, with its
	 * co-located child shard: another shard of it builds its own.
	 */
	if (e->valid && e->shard && e->r.parent != RelationGetRelid(rel))
		e->valid = false;
	if (!e->valid || e->nsp != nsp)
	{
		MemoryContext old;
		bool		exists;

		/*
		 * A new context: a caller further up the stack (a trigger whose
		 * statement fired this one) may still use the last one, which goes
		 * at the rebuild after this.
		 */
		if (e->oldcxt != NULL)
			MemoryContextDelete(e->oldcxt);
		e->oldcxt = e->cxt;
		e->cxt = AllocSetContextCreate(TopMemoryContext, "denorm parent counter",
									   ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(e->cxt);
		PG_TRY();
		{
			/* (names resolved only for a trigger of the counter's own tree) */
			exists = DenormReadRegistry(nsp, id, &e->r) &&
				DenormInChildTree(RelationGetRelid(rel), e->r.parent);
			e->shard = false;
			if (!exists && DenormCitusPresent() &&
				OidIsValid(DenormCitusShardOf(RelationGetRelid(rel), NULL)))
				exists = e->shard = DenormCitusRegistry(nsp, id, RelationGetRelid(rel), true, &e->r);
			if (exists)
			{
				DenormResolveNames(nsp, &e->r, &e->n);
				e->fk_guarded = ChildKeyGuarded(&e->r);
			}
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(old);
			e->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
		if (!exists)
			return NULL;
		e->nsp = nsp;
		e->valid = true;
		return e;
	}
	if (!DenormInChildTree(RelationGetRelid(rel), e->r.parent))
		return NULL;
	return e;
}

/*
 * Whether rel is a shard Citus is filling as it distributes its table in
 * this transaction, whose counter id was created before (so the rows hold
 * their counts already) and is not on this node yet: its metadata was
 * written here by this transaction, or (written over another connection
 * of the transaction) is not visible yet and the shard unknown.  A trigger
 * that leaves such rows alone reads and writes nothing of anyone's.
 */
static bool
CitusCopyingRows(Oid nsp, Relation rel, int32 id)
{
	const char *name = RelationGetRelationName(rel);
	const char *us = strrchr(name, '_');
	Oid			relid = RelationGetRelid(rel);

	if (us == NULL || us[1] == '\0' || strspn(us + 1, "0123456789") != strlen(us + 1) ||
		!DenormCitusPresent())
		return false;
	if (!OidIsValid(DenormCitusShardOf(relid, NULL)))
		return true;
	return DenormCitusDistributedNow(relid) &&
		!list_member_int(DenormCitusCountersOfShard(nsp, relid, true), id);
}

/*
 * Refuses a parent-side trigger for counter id that the registry does not
 * confirm.  On a shard of a Citus table whose counter the nodes' copy of
 * the registry lacks, that says why (the table was distributed after the
 * counter was created).
 */
static void
NoSuchCounter(Oid nsp, TriggerData *trigdata, int32 id)
{
	Oid			relid = RelationGetRelid(trigdata->tg_relation);

	if (DenormCitusPresent() && OidIsValid(DenormCitusShardOf(relid, NULL)) &&
		!list_member_int(DenormCitusCountersOfShard(nsp, relid, true), id))
		DenormCitusUnregistered(relid, trigdata->tg_trigger->tgname);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("trigger \"%s\" on table \"%s\" does not match denorm counter %d",
					trigdata->tg_trigger->tgname, RelationGetRelationName(trigdata->tg_relation), id),
			 errdetail("denorm triggers act only as registered in denorm_counters.")));
}

PG_FUNCTION_INFO_V1(denorm_parent_trigger);

/*
 * denorm_parent_trigger, on the parent table, argument the counter id:
 *  - BEFORE INSERT FOR EACH ROW, and BEFORE UPDATE FOR EACH ROW WHEN the
 *    key changes: the row now stands for its key, so its counter is set to
 *    what that key's children (less its pending deltas) add up to; children
 *    written before their parent row (without a foreign key, or under a
 *    deferred one) are counted from the start.  The key is locked first
 *    against child writers that find no row for it (keylock.c), and the
 *    children read with a snapshot taken after that, so a writer in flight
 *    is either seen here or sees this row once it commits.  With ON UPDATE
 *    CASCADE the children follow afterwards and their moves add up
 *    exactly.
 *  - AFTER DELETE OR UPDATE OF the key FOR EACH ROW (deferred counters):
 *    the key the row gives up gets the row's column back as a pending
 *    delta, so that what stays pending for it is exactly what its
 *    remaining children add up to.
 * Children are read as the child's owner, pending deltas written as the
 * owner of denorm_pending.
 */
Datum
denorm_parent_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	DenormRegistry r;
	DenormNames n;
	ParentCounter *pc;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	int32		id;
	AttrNumber	keyattno;
	Oid			keytype;
	Datum		key;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger", "denorm_parent_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	if (trigdata->tg_trigger->tgnargs != 1 ||
		!((TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) &&
		 ((TRIGGER_FIRED_BEFORE(trigdata->tg_event) &&
		   (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) || TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))) ||
		  (TRIGGER_FIRED_AFTER(trigdata->tg_event) &&
		   (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))))))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE INSERT or UPDATE, or AFTER DELETE or UPDATE, FOR EACH ROW with a counter id",
						"denorm_parent_trigger"),
				 errhint("Create counters with denorm_create_counter().")));
	id = pg_strtoint32(trigdata->tg_trigger->tgargs[0]);
	pc = GetParentCounter(nsp, id, rel);
	if (pc == NULL && CitusCopyingRows(nsp, rel, id))
		return PointerGetDatum(TRIGGER_FIRED_AFTER(trigdata->tg_event) ? NULL :
							   TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
							   trigdata->tg_newtuple : trigdata->tg_trigtuple);
	if (pc == NULL)
		NoSuchCounter(nsp, trigdata, id);
	r = pc->r;
	n = pc->n;
	/* every call: role memberships change without an invalidation */
	DenormCheckAuthority(&r, id);

	keyattno = get_attnum(RelationGetRelid(rel), r.parent_key);
	if (keyattno == InvalidAttrNumber)
		elog(ERROR, "parent key \"%s\" of denorm counter %d not found", r.parent_key, id);
	keytype = TupleDescAttr(RelationGetDescr(rel), keyattno - 1)->atttypid;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (TRIGGER_FIRED_AFTER(trigdata->tg_event))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		AttrNumber	colattno = get_attnum(RelationGetRelid(rel), r.counter_column);
		Datum		oldcol;
		bool		colnull;
		Oid			argtypes[3] = {INT4OID, TEXTOID, NUMERICOID};
		Datum		values[3];
		Oid			typoutput;
		bool		typisvarlena;

		/*
		 * The row gives up its key (deleted, or its key changed).  Its
		 * column plus the key's pending deltas equalled what the key's
		 * children added up to; adding the column back as a pending delta
		 * leaves the key with exactly what its children still add up to
		 * once they have left (ON DELETE/UPDATE CASCADE, whose deltas may
		 * come before or after this) or with the orphans that stay.  A
		 * row that takes the key later starts from that.
		 */
		key = heap_getattr(trigdata->tg_trigtuple, keyattno, desc, &isnull);
		oldcol = heap_getattr(trigdata->tg_trigtuple, colattno, desc, &colnull);
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && !isnull)
		{
			bool		newnull;
			Datum		newkey = heap_getattr(trigdata->tg_newtuple, keyattno, desc, &newnull);
			TypeCacheEntry *tce = lookup_type_cache(keytype, TYPECACHE_EQ_OPR_FINFO);

			/* the key written back unchanged: nothing given up */
			if (!newnull &&
				DatumGetBool(FunctionCall2Coll(&tce->eq_opr_finfo,
											   TupleDescAttr(desc, keyattno - 1)->attcollation,
											   key, newkey)))
				isnull = true;
		}
		if (!isnull && !colnull && strcmp(r.mode, "deferred") == 0)
		{
			getTypeOutputInfo(keytype, &typoutput, &typisvarlena);
			values[0] = Int32GetDatum(id);
			values[1] = CStringGetTextDatum(OidOutputFunctionCall(typoutput, key));
			values[2] = DirectFunctionCall3(numeric_in,
											CStringGetDatum(OidOutputFunctionCall(
												TupleDescAttr(desc, colattno - 1)->atttypid == NUMERICOID ?
												F_NUMERIC_OUT : F_INT8OUT,
												TupleDescAttr(desc, colattno - 1)->atttypid == NUMERICOID ?
												oldcol : Int64GetDatum(ColumnInt64(desc, colattno, oldcol)))),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
			(void) DenormExecAs(n.pending_owner, DENORM_PATH_SAFE, InvalidOid,
						  psprintf("INSERT INTO %s (counter_id, parent_key, delta) "
								   "VALUES ($1, $2, $3)", n.pending),
						  3, argtypes, values, NULL, NULL, false);
		}
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	else
	{
		HeapTuple	newtuple = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ?
			trigdata->tg_trigtuple : trigdata->tg_newtuple;
		AttrNumber	colattno = get_attnum(RelationGetRelid(rel), r.counter_column);
		Form_pg_attribute colattr;
		Datum		actual;
		Datum		value;
		int			colnum;
		bool		valnull = false;
		Oid			typinput;
		Oid			typioparam;

		if (colattno == InvalidAttrNumber)
			elog(ERROR, "counter column \"%s\" of denorm counter %d not found", r.counter_column, id);
		key = heap_getattr(newtuple, keyattno, RelationGetDescr(rel), &isnull);
		if (n.extreme)
		{
			/*
			 * A min or max starts at its children's extreme (NULL for none,
			 * and under the foreign key, where it can have none yet).  The
			 * transaction's own values still to come need not be taken off:
			 * applying a value already counted, or recomputing, changes
			 * nothing.
			 */
			valnull = true;
			value = (Datum) 0;
			if (!isnull && !pc->fk_guarded)
			{
				Oid			fktype;
				int32		fktypmod;
				Oid			fkcoll;
				Snapshot	snap;

				get_atttypetypmodcoll(r.child, get_attnum(r.child, r.foreign_key),
									  &fktype, &fktypmod, &fkcoll);
				DenormLockKey(r.parent,
							  DenormKeyLockHash(keytype,
												TupleDescAttr(RelationGetDescr(rel), keyattno - 1)->attcollation,
												fktype, fkcoll, key),
							  true);
				snap = RegisterSnapshot(GetLatestSnapshot());
				value = ChildExtremeValue(&r, &n, keytype, key, snap, &valnull);
				UnregisterSnapshot(snap);
			}
			colattr = TupleDescAttr(RelationGetDescr(rel), colattno - 1);
			if (!valnull)
				value = SPI_datumTransfer(value, colattr->attbyval, colattr->attlen);
			SPI_finish();
			colnum = colattno;
			newtuple = heap_modify_tuple_by_cols(newtuple, RelationGetDescr(rel), 1,
												 &colnum, &value, &valnull);
			return PointerGetDatum(newtuple);
		}
		if (isnull)
			actual = NumericGetDatum(int64_to_numeric(0));
		else
		{
			Oid			typoutput;
			bool		typisvarlena;

			if (pc->fk_guarded)
			{
				/*
				 * Under the foreign key the key has no children yet, nothing
				 * pending, and no child writer can be in flight for it.
				 */
				actual = NumericGetDatum(int64_to_numeric(0));
			}
			else
			{
				Oid			fktype;
				int32		fktypmod;
				Oid			fkcoll;
				Snapshot	snap;

				get_atttypetypmodcoll(r.child, get_attnum(r.child, r.foreign_key),
									  &fktype, &fktypmod, &fkcoll);
				DenormLockKey(r.parent,
							  DenormKeyLockHash(keytype,
												TupleDescAttr(RelationGetDescr(rel), keyattno - 1)->attcollation,
												fktype, fkcoll, key),
							  true);
				snap = RegisterSnapshot(GetLatestSnapshot());
				actual = ChildAggregate(&r, &n, keytype, key, snap);
				UnregisterSnapshot(snap);
			}

			/*
			 * Less what this transaction's deltas not yet applied will still
			 * add to the key: they are among the children read (or, under
			 * the foreign key, those of a row with the key deleted before).
			 */
			if (DenormHavePending())
			{
				getTypeOutputInfo(keytype, &typoutput, &typisvarlena);
				actual = DirectFunctionCall2(numeric_sub, actual,
											 DenormLocalDelta(id, OidOutputFunctionCall(typoutput, key)));
			}
		}
		/* out of SPI's memory, which SPI_finish frees */
		actual = SPI_datumTransfer(actual, false, -1);
		SPI_finish();
		colattr = TupleDescAttr(RelationGetDescr(rel), colattno - 1);
		/* a value the column cannot hold is reported as the counter's */
		{
			Oid			coltype;
			int32		coltypmod;

			DenormColumnType(RelationGetRelid(rel), r.counter_column, &coltype, &coltypmod);
			if (!DenormNumericFits(actual, coltype, coltypmod))
			{
				Oid			typoutput;
				bool		typisvarlena;

				getTypeOutputInfo(keytype, &typoutput, &typisvarlena);
				DenormOverflowError(id, r.parent, r.counter_column, r.parent_key,
									OidOutputFunctionCall(typoutput, key),
									DatumGetCString(DirectFunctionCall1(numeric_out, actual)),
									false);
			}
		}
		/* into the column's own type, through its input function */
		getTypeInputInfo(colattr->atttypid, &typinput, &typioparam);
		value = OidInputFunctionCall(typinput,
									 DatumGetCString(DirectFunctionCall1(numeric_out, actual)),
									 typioparam, colattr->atttypmod);
		colnum = colattno;
		newtuple = heap_modify_tuple_by_cols(newtuple, RelationGetDescr(rel), 1,
											 &colnum, &value, &valnull);
		return PointerGetDatum(newtuple);
	}
}


PG_FUNCTION_INFO_V1(denorm_counter_guard);

/*
 * denorm_counter_guard, BEFORE UPDATE FOR EACH ROW on a counter's parent
 * (naming no column, so that ALTER COLUMN ... TYPE of the counter column
 * stays possible), argument the counter id: a write
 * to the column by anything but denorm (an ORM saving a whole row it read
 * earlier, an upsert's DO UPDATE SET, a hand-written UPDATE) would make the
 * counter drift.  Under denorm.counter_writes = 'ignore' (the default) the
 * row keeps the column's value and the rest of the write goes through;
 * 'error' refuses the statement; 'allow' lets it through (drift, for
 * reconcile).  denorm's own writes (deltas, flushes, heals, backfills,
 * corrections) pass: they run with DenormWritingCounters set, or, sent
 * by the Citus coordinator to the node of a shard, mark their rows
 * (denorm_counter_write).
 */
Datum
denorm_counter_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	ParentCounter *pc;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	int32		id;
	AttrNumber	colattno;
	TupleDesc	desc;
	Datum		oldvalue;
	bool		oldnull;
	int			colnum;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger", "denorm_counter_guard"),
				 errhint("Create counters with denorm_create_counter().")));
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE UPDATE FOR EACH ROW with a counter id",
						"denorm_counter_guard"),
				 errhint("Create counters with denorm_create_counter().")));
	if (DenormWritingCounters() ||
		(DenormCounterWritesValid() && denorm_counter_writes == DENORM_WRITES_ALLOW))
		return PointerGetDatum(trigdata->tg_newtuple);

	id = pg_strtoint32(trigdata->tg_trigger->tgargs[0]);
	pc = GetParentCounter(nsp, id, rel);
	if (pc == NULL)
		NoSuchCounter(nsp, trigdata, id);
	desc = RelationGetDescr(rel);
	colattno = get_attnum(RelationGetRelid(rel), pc->r.counter_column);
	if (colattno == InvalidAttrNumber)
		return PointerGetDatum(trigdata->tg_newtuple);
	oldvalue = heap_getattr(trigdata->tg_trigtuple, colattno, desc, &oldnull);
	{
		bool		newnull;
		Datum		newvalue = heap_getattr(trigdata->tg_newtuple, colattno, desc, &newnull);
		Form_pg_attribute att = TupleDescAttr(desc, colattno - 1);

		if (oldnull == newnull &&
			(oldnull || datumIsEqual(oldvalue, newvalue, att->attbyval, att->attlen)))
			return PointerGetDatum(trigdata->tg_newtuple);
	}
	/* a row denorm writes from the Citus coordinator (denorm_counter_write) */
	if (DenormTakeMarkedWrite())
		return PointerGetDatum(trigdata->tg_newtuple);
	/*
	 * The column changes: what to do depends on denorm.counter_writes, so a
	 * value of it that could not be checked (given before the library was
	 * loaded) is an error here, not a reason to ignore the write.
	 */
	if (DenormCounterWrites() == DENORM_WRITES_ALLOW)
		return PointerGetDatum(trigdata->tg_newtuple);
	if (denorm_counter_writes == DENORM_WRITES_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("column \"%s\" of table \"%s\" is kept by denorm counter %d",
						pc->r.counter_column, RelationGetRelationName(rel), id),
				 errdetail("Its value is what the rows of table \"%s\" referencing the row add up to.",
						   get_rel_name(pc->r.child)),
				 errhint("Leave the column out of the UPDATE, or SET denorm.counter_writes = 'ignore' to have such writes ignored.")));
	ereport(DEBUG1,
			(errmsg("denorm counter %d kept column \"%s\" of table \"%s\" as it was",
					id, pc->r.counter_column, RelationGetRelationName(rel))));
	colnum = colattno;
	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple, desc, 1, &colnum,
													 &oldvalue, &oldnull));
}
