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
    {%- set bound = incremental_lake_bound() %}
    {%- if bound %}
    where date >= date '{{ bound }}'
    {%- endif %}
{%- endmacro %}

{# The first lake day an incremental run reads (none in a full build): the newest partition
   already loaded minus `lookback_days`, or `rebuild_since` when earlier. #}
{% macro incremental_lake_bound() -%}
    {%- if is_incremental() and execute %}
        {%- set bound = run_query(
            "select coalesce(max(lake_partition_date), date '1900-01-01') - "
            ~ (var('lookback_days') | int) ~ " from " ~ this
        ).columns[0].values()[0] | string %}
        {%- if var('rebuild_since') and var('rebuild_since') < bound %}
            {%- set bound = var('rebuild_since') %}
        {%- endif %}
        {{- return(bound) }}
    {%- endif %}
    {{- return(none) }}
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

{# `select * from <channel><suffix>` of every enabled channel, stacked by column name; with
   `with_files`, also `files<suffix>`, the CTE of the file channels (always there: it has no
   rows until a first file is imported). #}
{% macro union_channels(suffix, with_files=false) -%}
    {%- set ctes = [] -%}
    {%- for channel in enabled_channels() -%}
        {%- do ctes.append(channel ~ suffix) -%}
    {%- endfor -%}
    {%- if with_files -%}
        {%- do ctes.append('files' ~ suffix) -%}
    {%- endif -%}
    {%- for cte in ctes %}
    select * from {{ cte }}
    {% if not loop.last %}union all by name{% endif %}
    {%- endfor %}
{%- endmacro %}

{#
  Generic test on a channel column: an API channel (amazon, shopify, walmart), or a file
  channel, whose name is its inbox folder's (orders/<channel>/): a lowercase identifier
  (a-z, 0-9, _; a letter first) equal to the row's connection name. A row here is neither.
#}
{% test channel_name(model, column_name, connection_column='connection_name') %}
select {{ column_name }} as channel, {{ connection_column }} as connection_name, count(*) as row_count
from {{ model }}
where {{ column_name }} is not null
    and {{ column_name }} not in ('amazon', 'shopify', 'walmart')
    and not (
        regexp_full_match({{ column_name }}, '[a-z][a-z0-9_]*')
        and {{ column_name }} = {{ connection_column }}
    )
group by all
{% endtest %}

{#
  An entity of the inbox files (source `files`), read like lake_source. The parts lie under
  channel=files/connection=<folder>/…, read without hive partitioning: hive columns would
  overwrite the files' own `channel` column (events, SKU mappings) with 'files'; connection
  and date come from the path instead. Until a first file of the entity has been imported
  there is nothing to read (read_parquet fails on an empty glob), so the model gets no rows
  with the given columns (`columns`: each file column and its SQL type, as
  extractors/inbox writes it).
#}
{% macro files_source(table_name, columns) -%}
    {%- set relation = source('files', table_name) -%}  {#- the dependency, for lineage -#}
    {%- set pattern = env_var('CHANNELHOUSE_DATA_DIR', '../data')
        ~ '/raw/channel=files/connection=*/entity=' ~ table_name ~ '/date=*/*.parquet' -%}
    {%- set found = true -%}
    {%- if execute -%}
        {%- set found = run_query("select count(*) from glob('" ~ pattern ~ "')")
            .columns[0].values()[0] > 0 -%}
    {%- endif -%}
    {%- if found %}
    select * exclude (filename)
    from (
        select
            *,
            regexp_extract(filename, '/connection=([^/]+)/', 1) as connection,
            cast(regexp_extract(filename, '/date=([0-9-]+)/', 1) as date) as date
        from read_parquet('{{ pattern }}', hive_partitioning = false, union_by_name = true,
            filename = true)
    )
        {%- set bound = incremental_lake_bound() %}
        {%- if bound %}
    where date >= date '{{ bound }}'
        {%- endif %}
    {%- else %}
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
