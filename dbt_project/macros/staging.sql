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
