{{ config(unique_key=['product_sku', 'effective_from']) }}

-- Unit costs (COGS) per SKU with the day they take effect, from the inbox's product_costs/
-- CSV files. A SKU's cost for one effective_from day may come again in a later file (a
-- correction): the latest import wins, and within one file the last row.
with source as (
    {{ lake_source('files', 'product_costs') }}
),

renamed as (
    select
        {{ lake_columns() }},
        -- the master SKU as dim_products spells it (upper case, trimmed)
        upper(trim(sku)) as product_sku,
        sku as source_sku,
        cast(unit_cost as decimal(18, 4)) as unit_cost,
        upper(trim(currency)) as currency,
        cast(effective_from as date) as effective_from,
        cast(shipping_cost_per_unit as decimal(18, 4)) as shipping_cost_per_unit,
        _source_file as source_file,
        cast(_source_row as bigint) as source_row
    from source
)

select
    product_sku || ':' || strftime(effective_from, '%Y-%m-%d') as product_cost_id,
    *
from renamed
qualify row_number() over (
    partition by product_sku, effective_from
    order by extracted_at desc, source_row desc
) = 1
