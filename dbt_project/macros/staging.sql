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
    {{- return(adapter.dispatch('keep_latest')(key_columns, updated_column)) -}}
{%- endmacro %}

{% macro default__keep_latest(key_columns, updated_column) -%}
    qualify row_number() over (
        partition by connection_name, {{ key_columns | join(', ') }}
        order by {{ updated_column }} desc, extracted_at desc
    ) = 1
{%- endmacro %}

{# Snapshot entities: one version per record and snapshot day (the lake keeps every day). #}
{% macro keep_latest_per_snapshot(key_columns) -%}
    {{- return(adapter.dispatch('keep_latest_per_snapshot')(key_columns)) -}}
{%- endmacro %}

{% macro default__keep_latest_per_snapshot(key_columns) -%}
    qualify row_number() over (
        partition by connection_name, lake_partition_date, {{ key_columns | join(', ') }}
        order by extracted_at desc
    ) = 1
{%- endmacro %}

{#
  The raw entity, read from the lake. Incremental staging tables only read the Parquet
  partitions that can hold news: from the newest partition already loaded minus
  `lookback_days` (partitions are re-written while their day is open and by the
  schedules' lookback), or from CHANNELHOUSE_REBUILD_SINCE. The bound is computed before the
  query runs, so DuckDB prunes the files by their `date=` folder instead of opening all of them.
#}
{% macro lake_source(source_name, table_name) -%}
    select * from {{ lake_relation(source_name, table_name) }} as lake
    {%- set bound = incremental_lake_bound() %}
    {%- if bound %}
    where date >= date '{{ bound }}'
    {%- endif %}
{%- endmacro %}

{#
  A raw entity of the lake as a relation: the source (its external_location reads the
  Parquet files), or, while the lake holds no file of it (a channel this deployment does not
  have, an inbox entity nobody dropped yet), an empty relation with the same typed columns:
  the source's columns as declared in its yml (tests/orchestration/test_dbt_sources.py keeps them equal to
  the extractors' Arrow schemas), the lake's stamp columns and the partition columns. So every
  model builds in every deployment, whatever mix of channels it has. Inside a unit test the
  source is the test's fixture, always.
#}
{% macro lake_relation(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or (relation | string).startswith('__dbt__cte__') -%}
        {{ relation }}
    {%- elif lake_has_files(source_name, table_name) -%}
        {{ with_missing_columns(source_name, table_name, relation) }}
    {%- else -%}
        {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
        {%- set columns = [] -%}
        {%- for column in node.columns.values() -%}
            {%- do columns.append((column.name, column.data_type)) -%}
        {%- endfor -%}
        {%- do columns.extend(lake_stamp_columns()) -%}
        {%- if source_name != 'files' -%}
            {%- do columns.extend([('channel', 'varchar'), ('entity', 'varchar')]) -%}
        {%- endif -%}
        {%- do columns.extend([('connection', 'varchar'), ('date', 'date')]) -%}
        (select
            {%- for name, type in columns %}
            cast(null as {{ type }}) as {{ name }}{{ ',' if not loop.last }}
            {%- endfor %}
        where false)
    {%- endif -%}
{%- endmacro %}

{#
  The source as the lake's files have it, plus, for a source whose meta says
  `fill_missing_columns` (the inbox files: a file landed by an older release lacks the columns
  added since), every declared column no file has, as a typed NULL.
#}
{% macro with_missing_columns(source_name, table_name, relation) -%}
    {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
    {%- if not node.source_meta.get('fill_missing_columns') -%}
        {{ relation }}
    {%- else -%}
        {%- set present = run_query('describe select * from ' ~ relation).columns[0].values() | map('lower') | list -%}
        {%- set missing = [] -%}
        {%- for column in node.columns.values() if column.name | lower not in present -%}
            {%- do missing.append(column) -%}
        {%- endfor -%}
        {%- if missing -%}
        (select *,
            {%- for column in missing %}
            cast(null as {{ column.data_type }}) as {{ column.name }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ relation }})
        {%- else -%}
        {{ relation }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{# Where the lake keeps an entity's files (extractors/lake.py), for every connection. #}
{% macro lake_glob(source_name, table_name) -%}
    {{ env_var('CHANNELHOUSE_DATA_DIR', '../data') }}/raw/channel={{ source_name }}/connection=*/entity={{ table_name }}/date=*/*.parquet
{%- endmacro %}

{% macro lake_has_files(source_name, table_name) -%}
    {{- return(adapter.dispatch('lake_has_files')(source_name, table_name)) -}}
{%- endmacro %}

{% macro default__lake_has_files(source_name, table_name) -%}
    {%- set found = run_query("select count(*) from glob('" ~ lake_glob(source_name, table_name) ~ "')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{# The stamp columns the lake writer adds to every row (extractors/lake.py META_FIELDS). #}
{% macro lake_stamp_columns() -%}
    {{ return([
        ('_channel', 'varchar'), ('_connection', 'varchar'), ('_extracted_at', 'timestamptz'),
        ('_extraction_id', 'varchar'), ('_api_version', 'varchar'),
        ('_window_start', 'timestamptz'), ('_window_end', 'timestamptz'),
    ]) }}
{%- endmacro %}

{# The first lake day an incremental run reads (none in a full build): the newest partition
   already loaded minus `lookback_days`, or CHANNELHOUSE_REBUILD_SINCE when earlier. #}
{% macro incremental_lake_bound() -%}
    {%- if is_incremental() and execute %}
        {%- set bound = run_query(
            "select coalesce(max(lake_partition_date), date '1900-01-01') - "
            ~ (var('lookback_days') | int) ~ " from " ~ this
        ).columns[0].values()[0] | string %}
        {%- set since = run_setting('rebuild_since') %}
        {%- if since and since < bound %}
            {%- set bound = since %}
        {%- endif %}
        {{- return(bound) }}
    {%- endif %}
    {{- return(none) }}
{%- endmacro %}

{#
  Reconciliation tests compare the whole history by default. A scheduled incremental run
  sets CHANNELHOUSE_RECONCILE_DAYS (macros/run_settings.sql) to compare only the last N days
  (the lake side then reads only the partitions those days can be in); full rebuilds compare
  everything.
  Returns a SQL date literal, or none.
#}
{% macro reconcile_cutoff() -%}
    {%- set days = run_setting('reconcile_days') -%}
    {%- if days is not none -%}
        ({{ run_date() }} - {{ days | int }})
    {%- endif -%}
{%- endmacro %}

{# The API channels. Every deployment builds all of them: a channel without a connection
   has empty staging models (lake_relation), so its rows simply are not there. #}
{% macro api_channels() -%}
    {{ return(['amazon', 'shopify', 'walmart']) }}
{%- endmacro %}

{# `select * from <channel><suffix>` of every API channel, stacked by column name; with
   `with_files`, also `files<suffix>`, the CTE of the file channels. #}
{% macro union_channels(suffix, with_files=false) -%}
    {%- set ctes = [] -%}
    {%- for channel in api_channels() -%}
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
