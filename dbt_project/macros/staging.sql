{# Lake bookkeeping columns every staging model carries, named alike everywhere. #}
{% macro lake_columns() -%}
    connection as connection_name,
    cast(date as date) as lake_partition_date,
    _extracted_at as extracted_at,
    _extraction_id as extraction_id
{%- endmacro %}

{# Keep the latest version of each record: the newest update time, then the newest extraction
   (a partition re-extracted later replaces the same version). #}
{% macro keep_latest(key_columns, updated_column) -%}
    qualify row_number() over (
        partition by connection_name, {{ key_columns | join(', ') }}
        order by {{ updated_column }} desc, extracted_at desc
    ) = 1
{%- endmacro %}

{# Snapshot entities: one version per record and snapshot day (the lake keeps every day). #}
{% macro keep_latest_per_snapshot(key_columns) -%}
    qualify row_number() over (
        partition by connection_name, lake_partition_date, {{ key_columns | join(', ') }}
        order by extracted_at desc
    ) = 1
{%- endmacro %}

{#
  The raw entity, read from the lake. Incremental staging tables only read the Parquet
  partitions that can hold news: from the newest partition already loaded minus
  `lookback_days` (partitions are re-written while their day is open and by the
  schedules' lookback), or from `rebuild_since`. The bound is computed before the query runs,
  so DuckDB prunes the files by their `date=` folder instead of opening all of them.
#}
{% macro lake_source(source_name, table_name) -%}
    select * from {{ source(source_name, table_name) }}
    {%- if is_incremental() and execute %}
        {%- set bound = run_query(
            "select coalesce(max(lake_partition_date), date '1900-01-01') - "
            ~ (var('lookback_days') | int) ~ " from " ~ this
        ).columns[0].values()[0] %}
        {%- if var('rebuild_since') and var('rebuild_since') < (bound | string) %}
            {%- set bound = var('rebuild_since') %}
        {%- endif %}
    where date >= date '{{ bound }}'
    {%- endif %}
{%- endmacro %}

{#
  Reconciliation tests compare the whole history by default. A scheduled incremental run
  may pass `reconcile_days` to compare only the last N days (the lake side then reads only
  the partitions those days can be in); full rebuilds compare everything.
  Returns a SQL date literal, or none.
#}
{% macro reconcile_cutoff() -%}
    {%- if var('reconcile_days', none) is not none -%}
        (current_date - {{ var('reconcile_days') | int }})
    {%- endif -%}
{%- endmacro %}

{# The channels this deployment has (dbt var `channels`, from channelhouse.yml), in order. #}
{% macro enabled_channels() -%}
    {%- set enabled = [] -%}
    {%- for channel in ['amazon', 'shopify', 'walmart'] if channel in var('channels') -%}
        {%- do enabled.append(channel) -%}
    {%- endfor -%}
    {{ return(enabled) }}
{%- endmacro %}

{# `select * from <channel><suffix>` of every enabled channel, stacked by column name. #}
{% macro union_channels(suffix) -%}
    {%- for channel in enabled_channels() %}
    select * from {{ channel ~ suffix }}
    {% if not loop.last %}union all by name{% endif %}
    {%- endfor %}
{%- endmacro %}

{#
  An entity of the inbox files (source `files`), read like lake_source. Until a first file
  of the entity has been imported there is nothing to read (read_parquet fails on an empty
  glob), so the model gets no rows with the given columns: `columns` maps each file column
  to its SQL type, as extractors/inbox.py writes it. dbt records the source dependency at
  parse time either way.
#}
{% macro files_source(table_name, columns) -%}
    {%- set found = true -%}
    {%- if execute -%}
        {%- set pattern = env_var('CHANNELHOUSE_DATA_DIR', '../data')
            ~ '/raw/channel=files/connection=*/entity=' ~ table_name ~ '/date=*/*.parquet' -%}
        {%- set found = run_query("select count(*) from glob('" ~ pattern ~ "')")
            .columns[0].values()[0] > 0 -%}
    {%- endif -%}
    {%- if found -%}
        {{ lake_source('files', table_name) }}
    {%- else -%}
    select
        {%- for name, type in columns.items() %}
        cast(null as {{ type }}) as {{ name }},
        {%- endfor %}
        cast(null as varchar) as connection,
        cast(null as date) as date,
        cast(null as timestamptz) as _extracted_at,
        cast(null as varchar) as _extraction_id
    where false
    {%- endif -%}
{%- endmacro %}
