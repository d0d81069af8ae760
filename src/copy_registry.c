/*-------------------------------------------------------------------------
 *
 * copy_registry.c
 *	  denorm_copies: writing it.  Only these functions write it, as its
 *	  owner (the extension's owner), after checking the caller: PUBLIC may
 *	  read it, administrators have no rights on it of their own.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* Refuses a caller who does not have the rights of relid's owner */
static void
RequireCopyOwner(Oid relid)
{
	if (!has_privs_of_role(GetUserId(), DenormRelationOwner(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", get_rel_name(relid)),
				 errdetail("Only the owner of both the child and the parent table can create or drop a copy on them.")));
}

/* A table a copy may use: an ordinary or partitioned, permanent table */
static void
RequireCopyTable(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	form = (Form_pg_class) GETSTRUCT(tup);
	if (form->relkind != RELKIND_RELATION && form->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", NameStr(form->relname))));
	if (form->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("denorm copies cannot use temporary table \"%s\"", NameStr(form->relname)),
				 errdetail("A copy outlives the session that creates it; its triggers would outlive the temporary table.")));
	ReleaseSysCache(tup);
}

static AttrNumber
RequireCopyColumn(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);

	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist", column, get_rel_name(relid))));
	return attnum;
}

static void
ExecAsCopyRegistryOwner(Oid nsp, const char *sql, int nargs, Oid *argtypes, Datum *values,
						const char *nulls)
{
	(void) DenormExecAs(DenormRelationOwner(get_relname_relid("denorm_copies", nsp)),
						DENORM_PATH_SAFE, InvalidOid, sql, nargs, argtypes, values, nulls,
						NULL, false);
}

PG_FUNCTION_INFO_V1(denorm_copy_register);

/*
 * denorm_copy_register(child regclass, copy_column name, parent regclass,
 *                      source_column name, foreign_key name, parent_key
 *                      name, mode text) returns integer
 *
 * Records a copy and returns its id.  denorm_create_copy validates the
 * declaration in full first; what a copy's trust rests on is checked again
 * here, against the caller: it owns both tables, both are permanent
 * ordinary or partitioned tables, the columns exist, keys are of built-in
 * types, and the owners have the rights the copy's triggers use.
 */
Datum
denorm_copy_register(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			argtypes[11] = {OIDOID, NAMEOID, OIDOID, NAMEOID, NAMEOID, NAMEOID, TEXTOID,
	INT2OID, INT2OID, INT2OID, INT2OID};
	Datum		values[11];
	Oid			child,
				parent;
	char	   *mode;
	AttrNumber	copyatt,
				srcatt,
				fkatt,
				keyatt;
	bool		isnull;
	Datum		id;
	int			i;

	for (i = 0; i < 7; i++)
	{
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments of denorm_copy_register must not be null")));
		values[i] = PG_GETARG_DATUM(i);
	}
	child = PG_GETARG_OID(0);
	parent = PG_GETARG_OID(2);
	mode = text_to_cstring(PG_GETARG_TEXT_PP(6));
	RequireCopyTable(child);
	RequireCopyTable(parent);
	RequireCopyOwner(child);
	RequireCopyOwner(parent);
	copyatt = RequireCopyColumn(child, NameStr(*PG_GETARG_NAME(1)));
	srcatt = RequireCopyColumn(parent, NameStr(*PG_GETARG_NAME(3)));
	fkatt = RequireCopyColumn(child, NameStr(*PG_GETARG_NAME(4)));
	keyatt = RequireCopyColumn(parent, NameStr(*PG_GETARG_NAME(5)));
	if (strcmp(mode, "sync") != 0 && strcmp(mode, "snapshot") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown copy mode \"%s\"", mode)));
	if (!DenormBuiltinType(get_atttype(parent, keyatt)) ||
		!DenormBuiltinType(get_atttype(child, fkatt)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("parent key and foreign key must be of built-in types")));
	values[7] = Int16GetDatum(copyatt);
	values[8] = Int16GetDatum(srcatt);
	values[9] = Int16GetDatum(fkatt);
	values[10] = Int16GetDatum(keyatt);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ExecAsCopyRegistryOwner(nsp,
							psprintf("INSERT INTO %s.denorm_copies (child, copy_column, parent, "
									 "source_column, foreign_key, parent_key, mode, copy_attnum, "
									 "source_attnum, fk_attnum, key_attnum) "
									 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
									 "ON CONFLICT (child, copy_column) DO NOTHING RETURNING id",
									 quote_identifier(get_namespace_name(nsp))),
							11, argtypes, values, NULL);
	if (SPI_processed != 1)
	{
		error_context_stack = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("column \"%s\" of table \"%s\" already has a denorm copy",
						NameStr(*PG_GETARG_NAME(1)),
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(child)),
												   get_rel_name(child))),
				 errdetail("Another session created it meanwhile."),
				 errhint("Drop it first with denorm_drop_copy().")));
	}
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	SPI_finish();
	CacheInvalidateRelcacheByRelid(child);
	PG_RETURN_DATUM(id);
}

/*
 * The owners' check for changing an existing copy: the caller owns
 * whichever of its tables still exist (a table being dropped takes its
 * copies along through the event trigger).  False when there is no such
 * copy.  Runs in the caller's SPI connection.
 */
static bool
CheckCopyOwners(Oid nsp, int32 id, Oid *child, Oid *parent)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;

	values[0] = Int32GetDatum(id);
	ExecAsCopyRegistryOwner(nsp,
							psprintf("SELECT child::pg_catalog.oid, parent::pg_catalog.oid FROM %s.denorm_copies "
									 "WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
									 quote_identifier(get_namespace_name(nsp))),
							1, argtypes, values, NULL);
	if (SPI_processed != 1)
		return false;
	*child = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*parent = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(*child)))
		RequireCopyOwner(*child);
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(*parent)))
		RequireCopyOwner(*parent);
	return true;
}

PG_FUNCTION_INFO_V1(denorm_copy_unregister);

/*
 * denorm_copy_unregister(copy_id integer) returns boolean
 *
 * Deletes a copy's registry row (its triggers are dropped by the caller);
 * false when there is no such copy.
 */
Datum
denorm_copy_unregister(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	Oid			child,
				parent;
	bool		found;

	values[0] = PG_GETARG_DATUM(0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = CheckCopyOwners(nsp, PG_GETARG_INT32(0), &child, &parent);
	if (found)
	{
		ExecAsCopyRegistryOwner(nsp,
								psprintf("DELETE FROM %s.denorm_copies WHERE id OPERATOR(pg_catalog.=) $1",
										 quote_identifier(get_namespace_name(nsp))),
								1, argtypes, values, NULL);
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(child)))
			CacheInvalidateRelcacheByRelid(child);
	}
	SPI_finish();
	PG_RETURN_BOOL(found);
}

PG_FUNCTION_INFO_V1(denorm_copy_follow_names);

/*
 * denorm_copy_follow_names(copy_id integer, copy_column name, foreign_key
 * name, source_column name, parent_key name) returns boolean
 *
 * Records the names a copy's columns have after DDL (the guard works them
 * out: a rename reports the column it renamed), and their numbers as the
 * tables have them now (a restored table numbers its columns afresh,
 * leaving out dropped ones).  Every name must be a column of its table.
 * The caller owns the tables (the check is made).  Returns whether there
 * is such a copy.
 */
Datum
denorm_copy_follow_names(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	int32		id = PG_GETARG_INT32(0);
	Oid			argtypes[9] = {INT4OID, NAMEOID, NAMEOID, NAMEOID, NAMEOID,
	INT2OID, INT2OID, INT2OID, INT2OID};
	Datum		values[9];
	Oid			child,
				parent;
	bool		found;
	int			i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = CheckCopyOwners(nsp, id, &child, &parent);
	if (found)
	{
		values[0] = Int32GetDatum(id);
		for (i = 1; i <= 4; i++)
			values[i] = PG_GETARG_DATUM(i);
		values[5] = Int16GetDatum(RequireCopyColumn(child, NameStr(*PG_GETARG_NAME(1))));
		values[6] = Int16GetDatum(RequireCopyColumn(child, NameStr(*PG_GETARG_NAME(2))));
		values[7] = Int16GetDatum(RequireCopyColumn(parent, NameStr(*PG_GETARG_NAME(3))));
		values[8] = Int16GetDatum(RequireCopyColumn(parent, NameStr(*PG_GETARG_NAME(4))));
		ExecAsCopyRegistryOwner(nsp,
								psprintf("UPDATE %s.denorm_copies SET copy_column = $2, foreign_key = $3, "
										 "source_column = $4, parent_key = $5, copy_attnum = $6, "
										 "fk_attnum = $7, source_attnum = $8, key_attnum = $9 "
										 "WHERE id OPERATOR(pg_catalog.=) $1",
										 quote_identifier(get_namespace_name(nsp))),
								9, argtypes, values, NULL);
		CacheInvalidateRelcacheByRelid(child);
	}
	SPI_finish();
	PG_RETURN_BOOL(found);
}
