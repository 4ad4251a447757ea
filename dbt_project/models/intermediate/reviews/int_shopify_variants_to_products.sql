-- Each Shopify variant with the product it belongs to (latest catalog snapshot): review apps
-- review a Shopify product (by its numeric id or its handle), orders sell its variants.
select
    v.connection_name,
    v.shopify_variant_id,
    p.shopify_product_number_id,
    lower(p.handle) as product_handle
from {{ ref('stg_shopify__product_variants') }} as v
inner join {{ ref('stg_shopify__products') }} as p
    on v.connection_name = p.connection_name
    and v.shopify_product_id = p.shopify_product_id
    and v.snapshot_date = p.snapshot_date
qualify v.snapshot_date = max(v.snapshot_date) over (partition by v.connection_name, v.shopify_variant_id)
