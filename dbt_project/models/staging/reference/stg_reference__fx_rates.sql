{{ config(materialized="table") }}

-- Exchange rates per 1 EUR from the latest snapshot of each source (ecb feed, user file):
-- every snapshot holds the source's whole history, so the latest one is the truth.
with source as (
    select * from {{ source('reference', 'fx_rates') }}
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
qualify lake_partition_date = max(lake_partition_date) over (partition by connection_name)
    and row_number() over (
        partition by connection_name, rate_date, currency order by extracted_at desc
    ) = 1
