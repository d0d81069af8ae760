/* denorm--1.2--1.3.sql: robustness.  Recomputes that raced with writers
 * become relative corrections; declarations that could overwrite data or
 * break writes are refused, by one rule set shared by creation and the
 * DDL guard; failures of maintenance show as failures. */

\echo Use "ALTER EXTENSION denorm UPDATE TO '1.3'" to load this file. \quit

------------------------------------------------------------------------
-- Partitions and TRUNCATE: relative corrections
------------------------------------------------------------------------


------------------------------------------------------------------------
-- The rules of what can be counted (creation and the DDL guard)
------------------------------------------------------------------------


------------------------------------------------------------------------
-- Reconcile results
------------------------------------------------------------------------


------------------------------------------------------------------------
-- DROP EXTENSION
------------------------------------------------------------------------


