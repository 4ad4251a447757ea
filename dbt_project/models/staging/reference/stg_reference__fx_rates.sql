{{ config(materialized="table") }}

-- Exchange rates per 1 EUR, one row per source connection, rate_date and currency:
--   ecb, file  every fetch is a snapshot of the source's whole history, so only the latest
--              snapshot (the newest date= partition of the connection) counts
--   inbox      rate files dropped into the inbox (fx_rates/), each a full or partial ECB-layout
--              file landed as its own part: the latest import wins per rate_date and currency
-- The newest snapshot partitions are found from the file names before the query runs, so
-- DuckDB opens only those files instead of every day's snapshot.
{%- set pattern = lake_glob('reference', 'fx_rates') %}
{%- set snapshots = [] %}
{%- if execute %}
    {%- set found = run_query(
        "select regexp_extract(file, 'connection=([^/]+)/', 1) as connection,"
        ~ " max(regexp_extract(file, 'date=([0-9-]+)/', 1)) as latest"
        ~ " from glob('" ~ pattern ~ "') group by all order by all"
    ) %}
    {%- for row in found.rows if row[0] != 'inbox' %}
        {%- do snapshots.append("connection = '" ~ row[0] ~ "' and date = '" ~ row[1] ~ "'") %}
    {%- endfor %}
{%- endif %}

with source as (
    select * from {{ lake_relation('reference', 'fx_rates') }} as lake
    {%- if snapshots %}
    where connection = 'inbox'
        {%- for condition in snapshots %}
        or ({{ condition }})
        {%- endfor %}
    {%- endif %}
),

renamed as (
    select
        {{ lake_columns() }},
        rate_date,
        upper(currency) as currency,
        rate_per_eur,
        source as rate_source
    from source
)

select * from renamed
qualify (connection_name = 'inbox'
        or lake_partition_date = max(lake_partition_date) over (partition by connection_name))
    and row_number() over (
        partition by connection_name, rate_date, currency
        order by extracted_at desc, lake_partition_date desc
    ) = 1
