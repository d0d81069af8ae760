/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Counters over Citus distributed tables: recognising a shard's trigger
 *	  as its distributed table's, and the registry every node can read.
 *
 * With Citus, a counter's parent and child are hash-distributed and
 * co-located on the parent key: the shards of a parent key's row and of
 * its children are on one node, and the triggers Citus copies onto the
 * child's shards keep the co-located parent shard, a plain table of that
 * node, exactly as they keep a parent on a single node.
 *
 * The registry (denorm_counters) is the coordinator's; its OIDs mean
 * nothing on the other nodes.  denorm_citus_registry holds a copy of each
 * counter on distributed tables with the tables named by schema and name,
 * and is a Citus reference table: Citus writes it on every node in the
 * transaction that writes it, and copies it to nodes added later.  Only
 * denorm writes it, as its owner, from the registry (denorm_citus_publish).
 *
 * The trust rule on a node that does not hold the counter in its own
 * registry: a trigger acts for counter N on relation S only if
 *   - Citus's metadata on this node (pg_dist_shard, which only superusers
 *     and Citus write) says S is a shard of the distributed table T that
 *     the copied registry names as N's child (for the parent-side triggers:
 *     its parent), S is in T's schema under T's name and the shard id, and
 *     S has T's owner (no other role can create a table with that owner);
 *   - N's parent and child are hash-distributed and co-located, and the
 *     co-located shard of the other table is found from that metadata and
 *     is on this node;
 *   - the owner of the child may update the counter column of the parent
 *     (the authority check of a single node, DenormCheckAuthority).
 * Names from the copied registry are only looked up (never put into SQL);
 * the statements denorm runs are built from the shards' own catalog names.
 *
 * Nothing here runs when Citus is not installed: the callers ask
 * DenormCitusPresent first, and only where the local registry had no
 * answer (or, for TRUNCATE and maintenance, once per statement).
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

/* Is the citus extension installed in this database? */
bool
DenormCitusPresent(void)
{
	return OidIsValid(get_extension_oid("citus", true));
}

/*
 * Runs a read-only statement on Citus's metadata with the given int8 or oid
 * arguments and returns the first column of its first row as int8 (0 when
 * there is no row or it is NULL).  Connects to SPI itself.
 */
static int64
MetadataInt8(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	int64		result = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, nargs, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the Citus metadata");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			result = DatumGetInt64(d);
	}
	SPI_finish();
	return result;
}

/*
 * DenormCitusKind: the Citus distribution method of relid ('h' hash, 'n'
 * reference or Citus local, ...), or 0 when it is not a Citus table or
 * Citus is not installed.  *colocation gets its co-location group.
 */
char
DenormCitusKind(Oid relid, int64 *colocation)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	int64		v;

	if (colocation)
		*colocation = 0;
	if (!DenormCitusPresent())
		return 0;
	/* method and co-location group packed in one number: group * 256 + method */
	v = MetadataInt8("SELECT p.colocationid::pg_catalog.int8 OPERATOR(pg_catalog.*) 256"
					 " OPERATOR(pg_catalog.+) pg_catalog.ascii(p.partmethod::pg_catalog.text)"
					 " FROM pg_catalog.pg_dist_partition p"
					 " WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					 1, argtypes, values);
	if (v == 0)
		return 0;
	if (colocation)
		*colocation = v / 256;
	return (char) (v % 256);
}

/*
 * DenormCitusShardOf: the distributed table relid is a shard of, by Citus's
 * metadata on this node, InvalidOid when it is none (or Citus is not
 * installed).  A shard is named after its table with "_<shard id>" and
 * lives in its schema, with its owner: a table elsewhere, by another owner
 * or with a longer name is not taken for one.  *shardid gets the shard id.
 */
/*
 * The table relid is a shard of by its name's shard id, in Citus's
 * metadata on this node, when it is in that table's schema with its owner;
 * InvalidOid when it is none (or Citus is not installed).  *shardid gets
 * the shard id.  The name before the shard id is not compared: while a
 * distributed table is renamed, each shard is renamed by a connection of
 * its own, and a shard renamed by one is not seen renamed by the others.
 */
static Oid
ShardIdOf(Oid relid, int64 *shardid)
{
	char	   *name = get_rel_name(relid);
	char	   *us;
	char	   *end;
	int64		id;
	Oid			logical;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];

	if (name == NULL || !DenormCitusPresent())
		return InvalidOid;
	us = strrchr(name, '_');
	if (us == NULL || us[1] == '\0' || us[1] == '0')
		return InvalidOid;
	errno = 0;
	id = strtoi64(us + 1, &end, 10);
	if (*end != '\0' || errno != 0 || id <= 0)
		return InvalidOid;
	values[0] = Int64GetDatum(id);
	logical = (Oid) MetadataInt8("SELECT s.logicalrelid::pg_catalog.oid::pg_catalog.int8"
								 " FROM pg_catalog.pg_dist_shard s"
								 " WHERE s.shardid OPERATOR(pg_catalog.=) $1",
								 1, argtypes, values);
	if (!OidIsValid(logical) || logical == relid || get_rel_name(logical) == NULL ||
		get_rel_namespace(logical) != get_rel_namespace(relid) ||
		DenormRelationOwner(logical) != DenormRelationOwner(relid))
		return InvalidOid;
	*shardid = id;
	return logical;
}

Oid
DenormCitusShardOf(Oid relid, int64 *shardid)
{
	int64		id;
	Oid			logical = ShardIdOf(relid, &id);

	if (!OidIsValid(logical) ||
		strcmp(psprintf("%s_" INT64_FORMAT, get_rel_name(logical), id), get_rel_name(relid)) != 0)
		return InvalidOid;
	if (shardid)
		*shardid = id;
	return logical;
}

/*
 * DenormCitusDistributedNow: whether shard is a shard of a table this
 * transaction distributed (its Citus metadata on this node was written by
 * this transaction): Citus is copying the table's rows into its shards.
 */
bool
DenormCitusDistributedNow(Oid shard)
{
	Oid			logical = DenormCitusShardOf(shard, NULL);
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(logical)};
	TransactionId xmin;

	if (!OidIsValid(logical))
		return false;
	xmin = (TransactionId) MetadataInt8("SELECT p.xmin::pg_catalog.text::pg_catalog.int8"
										" FROM pg_catalog.pg_dist_partition p"
										" WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
										1, argtypes, values);
	return TransactionIdIsValid(xmin) && TransactionIdIsCurrentTransactionId(xmin);
}

/*
 * The shard of distributed table other co-located with shard shardid (the
 * one covering the same hash range), which must be on this node.
 */
static Oid
ColocatedShard(int64 shardid, Oid other, int32 id)
{
	Oid			argtypes[2] = {INT8OID, OIDOID};
	Datum		values[2] = {Int64GetDatum(shardid), ObjectIdGetDatum(other)};
	int64		otherid;
	Oid			relid = InvalidOid;

	otherid = MetadataInt8("SELECT o.shardid FROM pg_catalog.pg_dist_shard s"
						   " JOIN pg_catalog.pg_dist_shard o"
						   " ON o.logicalrelid OPERATOR(pg_catalog.=) $2::pg_catalog.regclass"
						   " AND o.shardminvalue OPERATOR(pg_catalog.=) s.shardminvalue"
						   " AND o.shardmaxvalue OPERATOR(pg_catalog.=) s.shardmaxvalue"
						   " WHERE s.shardid OPERATOR(pg_catalog.=) $1",
						   2, argtypes, values);
	if (otherid != 0)
		relid = get_relname_relid(psprintf("%s_" INT64_FORMAT, get_rel_name(other), otherid),
								  get_rel_namespace(other));
	if (!OidIsValid(relid) || DenormCitusShardOf(relid, NULL) != other)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" of denorm counter %d has no shard on this node co-located with shard " INT64_FORMAT,
						get_rel_name(other), id, shardid),
				 errdetail("A counter's parent and child must be distributed on the parent key and co-located."),
				 errhint("Distribute both with create_distributed_table(), the child with colocate_with => the parent.")));
	return relid;
}

/* The table schema.name, InvalidOid when there is none */
static Oid
TableByName(const char *schema, const char *name)
{
	Oid			nspid = get_namespace_oid(schema, true);

	return OidIsValid(nspid) ? get_relname_relid(name, nspid) : InvalidOid;
}

/*
 * DenormCitusCountersOfShard: the ids of the counters the copied registry
 * has for the distributed table shard is a shard of, as its child (or with
 * parent_side, its parent), ascending; NIL when shard is no shard.  Read
 * with the latest snapshot, as the registry is (DenormReadRegistry).
 */
List *
DenormCitusCountersOfShard(Oid nsp, Oid shard, bool parent_side)
{
	Oid			logical = DenormCitusShardOf(shard, NULL);
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	List	   *ids = NIL;
	uint64		row;
	MemoryContext caller = CurrentMemoryContext;

	if (!OidIsValid(logical))
		return NIL;
	values[0] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(logical)));
	values[1] = CStringGetTextDatum(get_rel_name(logical));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args(psprintf("SELECT r.id FROM %s.denorm_citus_registry r"
									   " WHERE r.%s_schema OPERATOR(pg_catalog.=) $1"
									   " AND r.%s_table OPERATOR(pg_catalog.=) $2 ORDER BY r.id",
									   quote_identifier(get_namespace_name(nsp)),
									   parent_side ? "parent" : "child",
									   parent_side ? "parent" : "child"),
							  2, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read denorm_citus_registry");
	PopActiveSnapshot();
	for (row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(caller);

		ids = lappend_int(ids, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[row],
														   SPI_tuptable->tupdesc, 1, &isnull)));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return ids;
}

/*
 * DenormCitusRegistry: counter id as it applies to shard, a shard of its
 * child (or with parent_side, of its parent), by the trust rule above:
 * into r, allocated in the caller's context, with r->parent and r->child
 * the co-located shards on this node.  Returns false when the copied
 * registry has no such counter or shard is not a shard of its table.
 */
bool
DenormCitusRegistry(Oid nsp, int32 id, Oid shard, bool parent_side, DenormRegistry *r)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(id)};
	char	   *text[12];
	bool		found;
	int			i;
	Oid			logical;
	int64		shardid;
	int64		pcoloc;
	int64		ccoloc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args(psprintf("SELECT r.parent_schema, r.parent_table, r.counter_column,"
									   " r.child_schema, r.child_table, r.foreign_key, r.parent_key,"
									   " r.aggregate, COALESCE(r.value_column, ''), COALESCE(r.filter, ''),"
									   " r.mode FROM %s.denorm_citus_registry r"
									   " WHERE r.id OPERATOR(pg_catalog.=) $1",
									   quote_identifier(get_namespace_name(nsp))),
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read denorm_citus_registry");
	PopActiveSnapshot();
	found = SPI_processed == 1;
	if (found)
		for (i = 0; i < 11; i++)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);

			text[i] = MemoryContextStrdup(caller, v ? v : "");
		}
	SPI_finish();
	if (!found)
		return false;

	r->id = id;
	r->parent = TableByName(text[0], text[1]);
	r->counter_column = text[2];
	r->child = TableByName(text[3], text[4]);
	r->foreign_key = text[5];
	r->parent_key = text[6];
	r->aggregate = text[7];
	r->value_column = text[8];
	r->filter = text[9];
	r->mode = text[10];
	if (!OidIsValid(r->parent) || !OidIsValid(r->child))
		return false;
	logical = DenormCitusShardOf(shard, &shardid);
	if (!OidIsValid(logical) || logical != (parent_side ? r->parent : r->child))
		return false;
	if (DenormCitusKind(r->parent, &pcoloc) != 'h' || DenormCitusKind(r->child, &ccoloc) != 'h' ||
		pcoloc != ccoloc)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tables \"%s\" and \"%s\" of denorm counter %d are not co-located distributed tables",
						get_rel_name(r->parent), get_rel_name(r->child), id),
				 errhint("Distribute both with create_distributed_table(), the child with colocate_with => the parent.")));
	/* keys are hashed, cast and compared with the writer's rights */
	if (!DenormBuiltinType(get_atttype(r->parent, get_attnum(r->parent, r->parent_key))) ||
		!DenormBuiltinType(get_atttype(r->child, get_attnum(r->child, r->foreign_key))))
		return false;
	DenormCheckAuthority(r, id);
	/* from here on, the counter of this node's shard pair */
	if (parent_side)
	{
		r->child = ColocatedShard(shardid, r->child, id);
		r->parent = shard;
	}
	else
	{
		r->parent = ColocatedShard(shardid, r->parent, id);
		r->child = shard;
	}
	return true;
}

/*
 * DenormCitusUnregistered reports a denorm trigger on a shard whose table
 * has no counter in the copied registry: the table was distributed after
 * its counters were created, or the copy is out of date.
 */
void
DenormCitusUnregistered(Oid shard, const char *tgname)
{
	Oid			logical = DenormCitusShardOf(shard, NULL);

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("trigger \"%s\" on shard \"%s\" of table \"%s\" has no denorm counter on this node",
					tgname, get_rel_name(shard), get_rel_name(logical)),
			 errdetail("The table was distributed after its counters were created, or the nodes' copy of the counters is out of date."),
			 errhint("Create counters after distributing both tables: drop the counter with denorm_drop_counter(), distribute, and create it again. For tables distributed while empty, or renamed, run SELECT denorm_citus_sync() on the coordinator.")));
}

PG_FUNCTION_INFO_V1(denorm_citus_kind);

/*
 * denorm_citus_kind(tbl regclass) returns "char": the Citus distribution
 * method of a table ('h' hash-distributed, 'n' reference table or Citus
 * local table), 's' for a shard of a distributed table, NULL when it is
 * neither or Citus is absent.
 */
Datum
denorm_citus_kind(PG_FUNCTION_ARGS)
{
	char		kind = DenormCitusKind(PG_GETARG_OID(0), NULL);

	if (kind == 0)
	{
		int64		shardid;

		if (OidIsValid(ShardIdOf(PG_GETARG_OID(0), &shardid)))
			kind = 's';
	}

	if (kind == 0)
		PG_RETURN_NULL();
	PG_RETURN_CHAR(kind);
}

/*
 * The distribution column of Citus table relid, NULL when it has none (a
 * reference table) or is no Citus table.
 */
static char *
DistributionColumn(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *result = NULL;
	MemoryContext caller = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)"
							  " FROM pg_catalog.pg_dist_partition p"
							  " WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
							  " AND p.partkey IS NOT NULL",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the Citus metadata");
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v)
			result = MemoryContextStrdup(caller, v);
	}
	SPI_finish();
	return result;
}

/*
 * DenormCitusCheckNew refuses a new counter r over Citus tables that
 * denorm cannot keep exact: both tables must be hash-distributed,
 * co-located, on the parent key and the foreign key, not partitioned, and
 * the counter a count or sum in mode 'immediate' or 'commit'.  Nothing is
 * checked when Citus is not installed or neither table is a Citus table.
 */
void
DenormCitusCheckNew(DenormRegistry *r)
{
	int64		pcoloc;
	int64		ccoloc;
	char		pkind = DenormCitusKind(r->parent, &pcoloc);
	char		ckind = DenormCitusKind(r->child, &ccoloc);
	const char *pname = get_rel_name(r->parent);
	const char *cname = get_rel_name(r->child);
	char	   *col;

	if (pkind == 0 && ckind == 0)
		return;
	if (pkind == 'n' && DistributionColumn(r->parent) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("parent table \"%s\" of a denorm counter cannot be a Citus reference table", pname),
				 errdetail("Writes on the shards of table \"%s\" would have to update table \"%s\" on every node.",
						   cname, pname),
				 errhint("Distribute table \"%s\" on its key with create_distributed_table(), and table \"%s\" with colocate_with => '%s'.",
						 pname, cname, pname)));
	if (pkind != 'h' || ckind != 'h')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("tables \"%s\" and \"%s\" of a denorm counter must both be hash-distributed Citus tables",
						pname, cname),
				 errdetail("Table \"%s\" is %s and table \"%s\" is %s.",
						   pname, pkind == 'h' ? "distributed" : pkind == 0 ? "a local table" : "not hash-distributed",
						   cname, ckind == 'h' ? "distributed" : ckind == 0 ? "a local table" : "not hash-distributed"),
				 errhint("Distribute both with create_distributed_table() before creating the counter, the child with colocate_with => '%s'.",
						 pname)));
	if (pcoloc != ccoloc)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is not co-located with table \"%s\"", cname, pname),
				 errdetail("A denorm counter updates the parent row on the node that holds its children."),
				 errhint("Distribute table \"%s\" with colocate_with => '%s'.", cname, pname)));
	col = DistributionColumn(r->parent);
	if (col == NULL || strcmp(col, r->parent_key) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is distributed on column \"%s\", not on the counter's parent key \"%s\"",
						pname, col ? col : "", r->parent_key),
				 errhint("Distribute the parent on the key the counter's children reference.")));
	col = DistributionColumn(r->child);
	if (col == NULL || strcmp(col, r->foreign_key) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is distributed on column \"%s\", not on the counter's foreign key \"%s\"",
						cname, col ? col : "", r->foreign_key),
				 errhint("Distribute the child on its foreign key to the parent, co-located with the parent.")));
	if (get_rel_relkind(r->parent) != RELKIND_RELATION || get_rel_relkind(r->child) != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("denorm counters on partitioned Citus tables are not supported"),
				 errdetail("Table \"%s\" or table \"%s\" is partitioned.", pname, cname),
				 errhint("Count into plain distributed tables.")));
	if (strcmp(r->mode, "deferred") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a deferred denorm counter cannot be kept on Citus distributed tables"),
				 errdetail("Deferred deltas would wait on the worker that wrote them, where denorm_flush() on the coordinator does not see them."),
				 errhint("Use mode 'commit', which also applies each transaction's deltas once, at its commit, or 'immediate'.")));
	if (strcmp(r->aggregate, "min") == 0 || strcmp(r->aggregate, "max") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a %s counter cannot be kept on Citus distributed tables", r->aggregate),
				 errhint("Use a count or sum counter there, or compute the %s when reading.", r->aggregate)));
}

/*
 * DenormCitusPublish makes denorm_citus_registry's row of counter id what
 * the registry says, as the owner of denorm's tables: the counter's tables
 * by schema and name when its child is a Citus table, no row when it is
 * not (or the counter is gone).  The first row makes the table a reference
 * table, so that Citus keeps it on every node.  The row only ever repeats
 * the registry, so anyone who may run this may ask for it.  Returns whether
 * the counter has a row now; false without Citus.  Writes in the caller's
 * transaction: the nodes' copy commits (or rolls back) with it.
 */
bool
DenormCitusPublish(Oid nsp, int32 id)
{
	const char *schema = quote_identifier(get_namespace_name(nsp));
	Oid			owner;
	Oid			copy;
	DenormRegistry r;
	bool		publish;
	Oid			argtypes[12] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[12];
	char		nulls[13] = "            ";

	if (!DenormCitusPresent())
		return false;
	owner = DenormRelationOwner(get_relname_relid("denorm_counters", nsp));
	copy = get_relname_relid("denorm_citus_registry", nsp);
	publish = DenormReadRegistry(nsp, id, &r) && DenormCitusKind(r.child, NULL) != 0;

	if (DenormCitusKind(copy, NULL) == 0)
	{
		Datum		name = CStringGetTextDatum(psprintf("%s.denorm_citus_registry", schema));

		if (!publish)
			return false;
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) DenormExecAs(owner, DENORM_PATH_SAFE, InvalidOid,
							"SELECT pg_catalog.create_reference_table($1::pg_catalog.regclass)",
							1, &argtypes[1], &name, NULL, NULL, false);
		SPI_finish();
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int32GetDatum(id);
	(void) DenormExecAs(owner, DENORM_PATH_SAFE, InvalidOid,
						psprintf("DELETE FROM %s.denorm_citus_registry"
								 " WHERE id OPERATOR(pg_catalog.=) $1", schema),
						1, argtypes, values, NULL, NULL, false);
	if (publish)
	{
		values[1] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(r.parent)));
		values[2] = CStringGetTextDatum(get_rel_name(r.parent));
		values[3] = CStringGetTextDatum(r.counter_column);
		values[4] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(r.child)));
		values[5] = CStringGetTextDatum(get_rel_name(r.child));
		values[6] = CStringGetTextDatum(r.foreign_key);
		values[7] = CStringGetTextDatum(r.parent_key);
		values[8] = CStringGetTextDatum(r.aggregate);
		values[9] = CStringGetTextDatum(r.value_column);
		nulls[9] = r.value_column[0] == '\0' ? 'n' : ' ';
		values[10] = CStringGetTextDatum(r.filter);
		nulls[10] = r.filter[0] == '\0' ? 'n' : ' ';
		values[11] = CStringGetTextDatum(r.mode);
		(void) DenormExecAs(owner, DENORM_PATH_SAFE, InvalidOid,
							psprintf("INSERT INTO %s.denorm_citus_registry"
									 " (id, parent_schema, parent_table, counter_column,"
									 " child_schema, child_table, foreign_key, parent_key,"
									 " aggregate, value_column, filter, mode)"
									 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
									 schema),
							12, argtypes, values, nulls, NULL, false);
	}
	SPI_finish();
	return publish;
}

PG_FUNCTION_INFO_V1(denorm_citus_publish);

/*
 * denorm_citus_publish(counter_id integer) returns boolean: the SQL face of
 * DenormCitusPublish, for denorm_citus_sync().
 */
Datum
denorm_citus_publish(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(DenormCitusPublish(get_func_namespace(fcinfo->flinfo->fn_oid),
									  PG_GETARG_INT32(0)));
}

PG_FUNCTION_INFO_V1(denorm_citus_check);

/*
 * denorm_citus_check(c denorm_counters) returns void: DenormCitusCheckNew
 * for a registered counter, for denorm_citus_sync().
 */
Datum
denorm_citus_check(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	DenormRegistry r;
	bool		isnull;
	Datum		d;

	memset(&r, 0, sizeof(r));
	r.id = DatumGetInt32(GetAttributeByName(row, "id", &isnull));
	r.parent = DatumGetObjectId(GetAttributeByName(row, "parent", &isnull));
	r.child = DatumGetObjectId(GetAttributeByName(row, "child", &isnull));
	r.parent_key = pstrdup(NameStr(*DatumGetName(GetAttributeByName(row, "parent_key", &isnull))));
	r.foreign_key = pstrdup(NameStr(*DatumGetName(GetAttributeByName(row, "foreign_key", &isnull))));
	r.aggregate = TextDatumGetCString(GetAttributeByName(row, "aggregate", &isnull));
	d = GetAttributeByName(row, "mode", &isnull);
	r.mode = isnull ? "immediate" : TextDatumGetCString(d);
	DenormCitusCheckNew(&r);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(denorm_counter_write);

/*
 * denorm_counter_write(value anyelement) returns anyelement: value, marking
 * one row's counter column as written by denorm.  A heal or backfill on
 * the coordinator updates a distributed parent through Citus, which runs
 * the UPDATE on the shard's node, in a backend where denorm's own flag
 * (DenormWritingCounters) is not set: the UPDATE wraps the new value in
 * this, evaluated for each row just before the row's BEFORE UPDATE
 * triggers, and the counter's guard lets a marked row through.  The guard
 * keeps accidental writes out, not an attacker (any session may SET
 * denorm.counter_writes = 'allow'), so anyone may mark.  Declared
 * immutable so that Citus sends it to the node with the row.
 */
Datum
denorm_counter_write(PG_FUNCTION_ARGS)
{
	DenormMarkCounterWrite();
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

PG_FUNCTION_INFO_V1(denorm_citus_worker);

/*
 * denorm_citus_worker() returns boolean: whether Citus is installed and
 * this node is a worker (its group in pg_dist_local_group is not the
 * coordinator's, 0).  The DDL guard leaves tables alone there: their
 * counters are the coordinator's.
 */
Datum
denorm_citus_worker(PG_FUNCTION_ARGS)
{
	if (!DenormCitusPresent())
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(MetadataInt8("SELECT g.groupid::pg_catalog.int8 FROM pg_catalog.pg_dist_local_group g",
								0, NULL, NULL) != 0);
}
