{#
  PostgreSQL variants of the DuckDB-only SQL of the shared macros (adapter.dispatch: the
  default__ variants are DuckDB's, unchanged). On PostgreSQL the raw lake is loaded into one
  schema per source (bench/large_pg.py), so a source is a table that may be missing.
#}

{% macro postgres__lake_has_files(source_name, table_name) -%}
    {%- set relation = adapter.get_relation(
        database=target.database, schema=source_name, identifier=table_name) -%}
    {{ return(relation is not none) }}
{%- endmacro %}

{# No QUALIFY: keep a row when no newer version of its key exists in the staging model's
   `renamed` CTE (the latest update time, then the latest extraction). #}
{% macro postgres__keep_latest(key_columns, updated_column) -%}
    where not exists (
        select 1 from renamed as newer
        where newer.connection_name = renamed.connection_name
            {%- for column in key_columns %}
            and newer.{{ column }} = renamed.{{ column }}
            {%- endfor %}
            and (newer.{{ updated_column }}, newer.extracted_at)
                > (renamed.{{ updated_column }}, renamed.extracted_at)
    )
{%- endmacro %}

{% macro postgres__keep_latest_per_snapshot(key_columns) -%}
    where not exists (
        select 1 from renamed as newer
        where newer.connection_name = renamed.connection_name
            and newer.lake_partition_date = renamed.lake_partition_date
            {%- for column in key_columns %}
            and newer.{{ column }} = renamed.{{ column }}
            {%- endfor %}
            and newer.extracted_at > renamed.extracted_at
    )
{%- endmacro %}
